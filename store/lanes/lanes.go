// Package lanes schedules the searches of a store: a bounded number run at once, a freed
// slot goes to the caller that used the store least (and to staff and services before
// patients' apps), and when every slot is held by a long search, a short one waiting may ask
// the heaviest caller's search to yield. Both stores (store/sqlite, store/mongo) run their
// client searches and history pages through it (docs/store.md, "Concurrency").
package lanes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/portico-health/portico/store"
)

// laneWait is how long a search waits for a slot of the main pool before it may take one
// of the overflow pool. Short searches on a busy server wait less than this (a queue of 16
// searches of half a millisecond on two slots is about 4 ms), so they keep to the main pool
// (on SQLite sized to the cores); a search that finds every slot held that long is waiting
// behind costly searches, and runs beside them instead.
const laneWait = 20 * time.Millisecond

// Lanes shares a store's search slots among callers.
//
// Two pools: the main pool (on SQLite, the connections of the read pool, the cores by default,
// where short searches run fastest) and an overflow pool, which a search may take once it
// waited laneWait. Without it, a few callers each keeping one costly search in flight (a
// chained :contains over every Observation, seconds long) held every slot, and everyone
// else's searches waited seconds for theirs.
//
// Waiting searches are not served in the order they came but by their caller's use of the
// store (store.WithCaller; the search time of the last minutes, decaying, and that of their
// searches in flight): a freed slot goes to the caller that used the store least, so that a
// few callers looping costly searches queue behind everyone else instead of taking every slot
// that frees. And when every slot is held by a long search, a search that waited yieldWait asks
// one to yield (askToYield).
//
// The server's own searches (store.Internal: a token's user still allowed to act, a user's
// patients) must not wait behind clients' searches: stores run them without a slot.
type Lanes struct {
	mu        sync.Mutex
	free      [2]int    // free slots of the read pool and of the overflow pool
	queue     []*waiter // searches waiting for a slot
	running   map[*searchRun]struct{}
	used      map[string]usage // each caller's search time, decaying
	lastPrune time.Time
	now       func() time.Time
}

// The pools.
const (
	Main     = 0
	Overflow = 1
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

// New returns lanes of mainSlots and overflowSlots slots.
func New(mainSlots, overflowSlots int) *Lanes {
	return &Lanes{free: [2]int{mainSlots, overflowSlots},
		running: map[*searchRun]struct{}{}, used: map[string]usage{}, now: time.Now}
}

// Acquire waits for a slot for a search of ctx's caller (store.CallerOf) and returns its pool
// (Main or Overflow), the context to run the search with (stopped, with cause
// store.ErrYielded, if it must yield) and the release of its slot, to call when the search is
// done.
func (l *Lanes) Acquire(ctx context.Context) (pool int, runCtx context.Context, release func(), err error) {
	caller := store.CallerOf(ctx)
	pool, err = l.slot(ctx, caller)
	if err != nil {
		return 0, nil, nil, err
	}
	runCtx, stop := context.WithCancelCause(ctx)
	r := &searchRun{caller: caller, start: l.now(), stop: stop}
	l.mu.Lock()
	l.running[r] = struct{}{}
	l.mu.Unlock()
	return pool, runCtx, func() {
		stop(nil)
		l.finish(r, pool)
	}, nil
}

// slot waits for a slot: of the main pool, or of either once it waited laneWait; its turn
// comes by its caller's use (dispatch), and once it waited yieldWait it may ask a long search
// to yield.
func (l *Lanes) slot(ctx context.Context, caller store.Caller) (int, error) {
	l.mu.Lock()
	if l.free[Main] > 0 && len(l.queue) == 0 {
		l.free[Main]--
		l.mu.Unlock()
		return Main, nil
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
func (l *Lanes) loads(now time.Time) map[string]float64 {
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
func (l *Lanes) dispatch() {
	if len(l.queue) == 0 || l.free[Main] <= 0 && l.free[Overflow] <= 0 {
		return
	}
	load := l.loads(l.now())
	for len(l.queue) > 0 {
		best, bestPool := -1, -1
		for i, w := range l.queue {
			pool := -1
			switch {
			case l.free[Main] > 0:
				pool = Main
			case w.overflow && l.free[Overflow] > 0:
				pool = Overflow
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
func (l *Lanes) before(a, b *waiter, load map[string]float64) bool {
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
func (l *Lanes) askToYield(w *waiter) {
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
func (l *Lanes) finish(r *searchRun, pool int) {
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
		if i := slices.Index(l.queue, w); i >= 0 && (pool == Main || w.overflow) {
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
func (l *Lanes) release(pool int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.free[pool]++
	l.dispatch()
}

// Yielded gives err, the error of a search run with runCtx, the cause store.ErrYielded when
// the search was asked to yield (and its caller's own context, ctx, did not end).
func Yielded(ctx, runCtx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(runCtx), store.ErrYielded) {
		return fmt.Errorf("%w: %v", store.ErrYielded, err) // not what the store made of the stop
	}
	return err
}

// Hold takes n slots of the main pool and m of the overflow pool, as searches in flight
// would; release gives them back (tests, load tools).
func (l *Lanes) Hold(n, m int) (release func()) {
	l.mu.Lock()
	l.free[Main] -= n
	l.free[Overflow] -= m
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.free[Main] += n
		l.free[Overflow] += m
		l.dispatch()
		l.mu.Unlock()
	}
}

// SetClock replaces the clock by which the lanes judge how long searches ran and how much
// each caller used (before any search runs; tests).
func (l *Lanes) SetClock(now func() time.Time) { l.now = now }

// Running is how many searches hold a slot.
func (l *Lanes) Running() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.running)
}
