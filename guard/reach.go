package guard

import (
	"context"
	"sync"
	"time"

	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// A Person's or a practitioner's patients are described by clauses (policy.ReachWhere: the
// patients of the organizations where they hold a role, of their care teams...). Confining
// every search and check with those clauses makes each request carry them into every type and
// parameter of the compartment (a practitioner's search of all types compiled to a statement of
// hundreds of kilobytes), and makes the store evaluate them against others' data. Resolved to
// ids once, the user's scopes confine by id: each request costs what the user's own patients
// cost.
const (
	// maxReachIDs is the most patients resolved to ids; a user who reaches more (a large
	// clinic's staff) keeps the clauses, where the store drives by them (store.Clause.Reach).
	maxReachIDs = 1000
	// reachTTL is how long a resolution serves the same user: a patient who joins or leaves a
	// practitioner's organization is seen within it, as a disabled user's tokens stop within
	// the tokens' recheck interval.
	reachTTL = 5 * time.Second
	// maxReachCache bounds the users remembered.
	maxReachCache = 10_000
)

type reachEntry struct {
	ids []string
	ok  bool // resolved (false: more than maxReachIDs)
	at  time.Time
}

type reachCache struct {
	mu      sync.Mutex
	entries map[string]reachEntry
}

// resolveReach returns p with its reach resolved to ids when the policy describes it by
// clauses and it holds at most maxReachIDs patients; else p unchanged.
func (s *Source) resolveReach(ctx context.Context, p policy.Principal) (policy.Principal, error) {
	where := s.policy.ReachWhere(p)
	if where == nil {
		return p, nil
	}
	now := time.Now()
	key := p.FHIRUser
	s.reach.mu.Lock()
	e, found := s.reach.entries[key]
	s.reach.mu.Unlock()
	if !found || now.Sub(e.at) >= reachTTL {
		ids, ok, err := s.findReach(ctx, where)
		if err != nil {
			return p, err
		}
		e = reachEntry{ids: ids, ok: ok, at: now}
		s.reach.mu.Lock()
		if s.reach.entries == nil || len(s.reach.entries) >= maxReachCache {
			s.reach.entries = map[string]reachEntry{}
		}
		s.reach.entries[key] = e
		s.reach.mu.Unlock()
	}
	if e.ok {
		p.ReachIDs, p.ReachResolved = e.ids, true
	}
	return p, nil
}

// findReach lists the ids of the patients where selects, or ok false when there are more than
// maxReachIDs.
func (s *Source) findReach(ctx context.Context, where []store.Clause) (ids []string, ok bool, err error) {
	q := store.Query{Types: []string{"Patient"}, Where: where, Count: maxReachIDs + 1}
	page, err := s.store.Search(store.Internal(ctx), q) // every request of the user waits for it
	if err != nil {
		return nil, false, err
	}
	if len(page.Records) > maxReachIDs || page.Next != "" {
		return nil, false, nil
	}
	ids = make([]string, 0, len(page.Records))
	for _, r := range page.Records {
		ids = append(ids, r.ID)
	}
	return ids, true, nil
}
