package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/portico-health/portico/store"
)

// laneWait is how long a search waits for a connection of the read pool before it may take one
// of the overflow pool. Short searches on a busy server wait less than this (a queue of 16
// searches of half a millisecond on two connections is about 4 ms), so they keep to the read
// pool, sized to the cores; a search that finds every connection held that long is waiting
// behind costly searches, and runs beside them instead.
const laneWait = 20 * time.Millisecond

// lanes shares the connections of searches and history pages among callers.
//
// Two pools: the read pool (Config.ReadConns, the cores by default, where short searches run
// fastest: more connections than cores cost ~15% of the searches per second,
// BenchmarkSearchParallel) and an overflow pool of as many again, which a search may take once
// it waited laneWait. Without it, a few callers each keeping one costly search in flight (a
// chained :contains over every Observation, seconds long) held every connection, and
// everyone else's searches waited seconds for theirs (BenchmarkReadsBesideCostlySearches;
// reads by id have their own pool). A slot of a lane is a connection of its pool, so a search
// that holds one finds a connection at once for each of its statements.
//
// Waiting searches are not served in the order they came but by their caller's use of the
// store (store.WithCaller; the search time of the last minutes, decaying, and that of their
// searches in flight): a freed slot goes to the caller that used the store least, so that a
// few callers looping costly searches queue behind everyone else instead of taking every slot
// that frees. And when every slot is held by a long search, a search that waited yieldWait asks
// one to yield (askToYield).
//
// The server's own searches (store.Internal: a token's user still allowed to act, a user's
// patients) run on the pool of reads by id, behind no client's search.
type lanes struct {
	main, overflow, internal *stmtCache

	mu        sync.Mutex
	free      [2]int    // free slots of the read pool and of the overflow pool
	queue     []*waiter // searches waiting for a slot
	running   map[*searchRun]struct{}
	used      map[string]usage // each caller's search time, decaying
	lastPrune time.Time
	now       func() time.Time
}

const (
	readPool     = 0
	overflowPool = 1
)

// When every slot is held by a long search, a caller with one short search would wait for the
// search timeout. So a search that has waited yieldWait, while every search holding a slot has
// run at least yieldMinRun (none is about to give its slot back), asks one to yield: the one
// of the caller that used the store most, if that caller used it far more than the waiting one
// (over twice its time plus yieldMinRun, decaying with usageHalfLife). It is stopped and
// answered store.ErrYielded (503, retry). Callers of like use never stop each other; one
// caller never stops its own searches; a search shorter than yieldMinRun is never stopped; a
// caller never stops the search of a caller of higher rank (store.Caller: patients' apps, then
// staff, then backend services), so that patients' accounts, however many and however fresh,
// cannot stop a clinician's worklist.
const (
	yieldWait     = 250 * time.Millisecond
	yieldCheck    = 50 * time.Millisecond
	yieldMinRun   = time.Second
	usageHalfLife = time.Minute
	// usagePrune: the callers' usage is swept of negligible entries at most this often.
	usagePrune = time.Minute
)

// searchRun is a client search holding a slot.
type searchRun struct {
	caller  store.Caller
	start   time.Time
	stop    context.CancelCauseFunc
	yielded bool    // asked to stop; its slot is about to come back
	yieldTo *waiter // the waiter it was stopped for, which gets its slot
}

// waiter is a search waiting for a slot.
type waiter struct {
	caller   store.Caller
	since    time.Time
	overflow bool     // waited laneWait: may take the overflow pool
	granted  chan int // the pool whose slot it was given (buffered)
}

// usage is a caller's search time in seconds, as of at.
type usage struct {
	secs float64
	at   time.Time
}

func (u usage) asOf(now time.Time) float64 {
	if u.secs == 0 {
		return 0
	}
	return u.secs * math.Exp2(-now.Sub(u.at).Seconds()/usageHalfLife.Seconds())
}

func newLanes(main, overflow, internal *sql.DB, mainConns, overflowConns int) *lanes {
	return &lanes{main: newStmtCache(main), overflow: newStmtCache(overflow), internal: newStmtCache(internal),
		free:    [2]int{mainConns, overflowConns},
		running: map[*searchRun]struct{}{}, used: map[string]usage{}, now: time.Now}
}

func noRelease() {}

// acquire returns the statements of the pool a search runs on, the context to run it with
// (stopped, with cause store.ErrYielded, if it must yield) and the release of its slot.
func (l *lanes) acquire(ctx context.Context) (*stmtCache, context.Context, func(), error) {
	if store.IsInternal(ctx) {
		return l.internal, ctx, noRelease, nil
	}
	caller := store.CallerOf(ctx)
	pool, err := l.slot(ctx, caller)
	if err != nil {
		return nil, nil, nil, err
	}
	runCtx, stop := context.WithCancelCause(ctx)
	r := &searchRun{caller: caller, start: l.now(), stop: stop}
	l.mu.Lock()
	l.running[r] = struct{}{}
	l.mu.Unlock()
	db := l.main
	if pool == overflowPool {
		db = l.overflow
	}
	return db, runCtx, func() {
		stop(nil)
		l.finish(r, pool)
	}, nil
}

// slot waits for a slot: of the read pool, or of either once it waited laneWait; its turn
// comes by its caller's use (dispatch), and once it waited yieldWait it may ask a long search
// to yield.
func (l *lanes) slot(ctx context.Context, caller store.Caller) (int, error) {
	l.mu.Lock()
	if l.free[readPool] > 0 && len(l.queue) == 0 {
		l.free[readPool]--
		l.mu.Unlock()
		return readPool, nil
	}
	w := &waiter{caller: caller, since: time.Now(), granted: make(chan int, 1)}
	l.queue = append(l.queue, w)
	l.dispatch()
	l.mu.Unlock()

	overflowAt := time.NewTimer(laneWait)
	defer overflowAt.Stop()
	tick := time.NewTicker(yieldCheck)
	defer tick.Stop()
	for {
		select {
		case pool := <-w.granted:
			return pool, nil
		case <-overflowAt.C:
			l.mu.Lock()
			w.overflow = true
			l.dispatch()
			l.mu.Unlock()
		case <-tick.C:
			if time.Since(w.since) >= yieldWait {
				l.askToYield(w)
			}
		case <-ctx.Done():
			l.mu.Lock()
			if i := slices.Index(l.queue, w); i >= 0 {
				l.queue = slices.Delete(l.queue, i, i+1)
				l.mu.Unlock()
				return 0, ctx.Err()
			}
			l.mu.Unlock()
			l.release(<-w.granted) // given a slot as the context ended
			return 0, ctx.Err()
		}
	}
}

// loads is each caller's use of the store as of now: past searches and those in flight.
// l.mu is held.
func (l *lanes) loads(now time.Time) map[string]float64 {
	load := make(map[string]float64, len(l.running)+len(l.queue))
	for r := range l.running {
		load[r.caller.Name] += now.Sub(r.start).Seconds()
	}
	for c := range load {
		load[c] += l.used[c].asOf(now)
	}
	for _, w := range l.queue {
		if _, ok := load[w.caller.Name]; !ok {
			load[w.caller.Name] = l.used[w.caller.Name].asOf(now)
		}
	}
	return load
}

// dispatch gives free slots to waiting searches in the order of before. l.mu is held.
func (l *lanes) dispatch() {
	if len(l.queue) == 0 || l.free[readPool] <= 0 && l.free[overflowPool] <= 0 {
		return
	}
	load := l.loads(l.now())
	for len(l.queue) > 0 {
		best, bestPool := -1, -1
		for i, w := range l.queue {
			pool := -1
			switch {
			case l.free[readPool] > 0:
				pool = readPool
			case w.overflow && l.free[overflowPool] > 0:
				pool = overflowPool
			default:
				continue
			}
			if best < 0 || l.before(w, l.queue[best], load) {
				best, bestPool = i, pool
			}
		}
		if best < 0 {
			return
		}
		w := l.queue[best]
		l.queue = slices.Delete(l.queue, best, best+1)
		l.free[bestPool]--
		w.granted <- bestPool
	}
}

// before reports whether waiter a is served before b: a caller of higher rank first (one user
// holds at most --client-concurrency slots, so staff and services cannot take them all), then
// the caller that used the store least, then the earlier.
func (l *lanes) before(a, b *waiter, load map[string]float64) bool {
	if a.caller.Rank != b.caller.Rank {
		return a.caller.Rank > b.caller.Rank
	}
	if la, lb := load[a.caller.Name], load[b.caller.Name]; la != lb {
		return la < lb
	}
	return a.since.Before(b.since)
}

// askToYield stops the search of the caller that used the store most, if every search holding
// a slot has run yieldMinRun and that caller used it far more than the waiting one. It stops
// one at a time.
func (l *lanes) askToYield(w *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.queue, w) {
		return // given a slot meanwhile
	}
	now := l.now()
	for r := range l.running {
		if r.yielded || now.Sub(r.start) < yieldMinRun {
			return // a slot is coming back, or may soon
		}
	}
	load := l.loads(now)
	bar := 2*load[w.caller.Name] + yieldMinRun.Seconds()
	var victim *searchRun
	for r := range l.running {
		if r.caller.Name == w.caller.Name || r.caller.Rank > w.caller.Rank || load[r.caller.Name] <= bar {
			continue
		}
		if victim == nil || load[r.caller.Name] > load[victim.caller.Name] ||
			load[r.caller.Name] == load[victim.caller.Name] && r.start.Before(victim.start) {
			victim = r
		}
	}
	if victim != nil {
		victim.yielded, victim.yieldTo = true, w
		victim.stop(store.ErrYielded)
	}
}

// finish adds a search's time to its caller's usage and gives its slot back.
func (l *lanes) finish(r *searchRun, pool int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.running, r)
	now := l.now()
	l.used[r.caller.Name] = usage{secs: l.used[r.caller.Name].asOf(now) + now.Sub(r.start).Seconds(), at: now}
	if now.Sub(l.lastPrune) >= usagePrune {
		l.lastPrune = now
		for c, u := range l.used {
			if u.asOf(now) < 0.001 {
				delete(l.used, c)
			}
		}
	}
	if w := r.yieldTo; w != nil {
		if i := slices.Index(l.queue, w); i >= 0 && (pool == readPool || w.overflow) {
			// The slot goes to the search it was given up for, not to whoever waits first
			// (a clinician's next worklist would take it, and the short search wait again).
			l.queue = slices.Delete(l.queue, i, i+1)
			w.granted <- pool
			l.dispatch()
			return
		}
	}
	l.free[pool]++
	l.dispatch()
}

// release gives back a slot that ran no search.
func (l *lanes) release(pool int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.free[pool]++
	l.dispatch()
}

// yielded gives err the cause store.ErrYielded when the search was asked to yield (and its
// caller's own context did not end).
func yielded(ctx, runCtx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(runCtx), store.ErrYielded) {
		return fmt.Errorf("%w: %w", store.ErrYielded, err)
	}
	return err
}

func (l *lanes) close() {
	l.main.close()
	l.overflow.close()
	l.internal.close()
}
