package guard

import (
	"container/list"
	"hash/maphash"
	"sync"

	"github.com/portico-health/portico/store"
)

// Checking a stored version against the policy needs its search index entries, and
// extracting them parses the whole body: 8 MiB of JSON with 300,000 elements takes ~300 ms of
// CPU. A patient reading its own large resource again and again, or a page of large
// resources searched again, would pay that each time. A stored version never changes, so the
// entries of large ones are remembered.
//
// A version is known by its type, id, version number and a hash of its bytes: a purged
// resource created again under the same id starts again at version 1 with other bytes. The
// hash is keyed by a seed drawn when the process starts, so no one can make two bodies
// collide on purpose.
const (
	// minCachedBody: smaller bodies parse in well under a millisecond; remembering them
	// would only push the large ones out.
	minCachedBody = 64 << 10
	// maxCachedEntries bounds the index entries remembered in all (a few hundred bytes each;
	// a resource has at most 10,000 since writes are refused above that, api/write.go).
	maxCachedEntries = 50_000
)

type indexKey struct {
	typ, id string
	version int64
	size    int
	hash    uint64
}

type cachedIndex struct {
	key     indexKey
	entries []store.IndexEntry
}

type indexCache struct {
	seed    maphash.Seed
	mu      sync.Mutex
	byKey   map[indexKey]*list.Element
	order   list.List // most recently used first
	entries int       // index entries held
}

func newIndexCache() *indexCache {
	return &indexCache{seed: maphash.MakeSeed(), byKey: map[indexKey]*list.Element{}}
}

// key returns the key of a stored version, and false when it is not worth remembering.
func (c *indexCache) key(typ, id string, version int64, body []byte) (indexKey, bool) {
	if version < 1 || len(body) < minCachedBody {
		return indexKey{}, false
	}
	return indexKey{typ, id, version, len(body), maphash.Bytes(c.seed, body)}, true
}

// get returns the remembered entries of k. They are shared: callers must not change them.
func (c *indexCache) get(k indexKey) ([]store.IndexEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedIndex).entries, true
}

func (c *indexCache) put(k indexKey, entries []store.IndexEntry) {
	if len(entries) > maxCachedEntries {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[k]; ok {
		return
	}
	c.byKey[k] = c.order.PushFront(&cachedIndex{k, entries})
	c.entries += len(entries)
	for c.entries > maxCachedEntries {
		last := c.order.Back()
		old := last.Value.(*cachedIndex)
		c.order.Remove(last)
		delete(c.byKey, old.key)
		c.entries -= len(old.entries)
	}
}
