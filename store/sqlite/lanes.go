package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/portico-health/portico/store"
)

// laneWait is how long a search waits for a connection of the read pool before it takes one
// of the overflow pool. Short searches on a busy server wait less than this (a queue of 16
// searches of half a millisecond on two connections is about 4 ms), so they keep to the read
// pool, sized to the cores; a search that finds every connection held that long is waiting
// behind costly searches, and runs beside them instead.
const laneWait = 20 * time.Millisecond

// lanes spreads searches and history over two pools of read connections: the read pool
// (Config.ReadConns, the cores by default, where short searches run fastest: more connections
// than cores cost ~15% of the searches per second, BenchmarkSearchParallel) and an overflow
// pool of as many again, used only by a search that waited laneWait. Without it, a few
// callers each keeping one costly search in flight (a chained :contains over every
// Observation, seconds long) held every connection, and everyone else's searches waited
// seconds for theirs (BenchmarkReadsBesideCostlySearches; reads by id have their own pool).
// A lane's slots match its pool's size, so a search that holds a slot finds a connection at
// once for each of its statements (they run one after another).
//
// The server's own searches (store.Internal: a token's user still allowed to act, a user's
// patients) run on the pool of reads by id, behind no client's search.
type lanes struct {
	main, overflow, internal *stmtCache
	mainN, overflowN         chan struct{}
}

func newLanes(main, overflow, internal *sql.DB, mainConns, overflowConns int) *lanes {
	return &lanes{main: newStmtCache(main), overflow: newStmtCache(overflow), internal: newStmtCache(internal),
		mainN: make(chan struct{}, mainConns), overflowN: make(chan struct{}, overflowConns)}
}

func noRelease() {}

// acquire returns the statements of the pool a search runs on and the release of its slot.
func (l *lanes) acquire(ctx context.Context) (*stmtCache, func(), error) {
	if store.IsInternal(ctx) {
		return l.internal, noRelease, nil
	}
	select {
	case l.mainN <- struct{}{}:
		return l.main, l.releaseMain, nil
	default:
	}
	t := time.NewTimer(laneWait)
	defer t.Stop()
	select {
	case l.mainN <- struct{}{}:
		return l.main, l.releaseMain, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-t.C:
	}
	select {
	case l.mainN <- struct{}{}:
		return l.main, l.releaseMain, nil
	case l.overflowN <- struct{}{}:
		return l.overflow, l.releaseOverflow, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func (l *lanes) releaseMain()     { <-l.mainN }
func (l *lanes) releaseOverflow() { <-l.overflowN }

func (l *lanes) close() {
	l.main.close()
	l.overflow.close()
	l.internal.close()
}
