package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
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

	mu        sync.Mutex
	running   map[*searchRun]struct{} // the client searches holding a slot
	used      map[string]usage        // each caller's search time, decaying
	lastPrune time.Time
	now       func() time.Time
}

// When both pools are full, they are full of long searches (short ones would have freed a
// slot within laneWait), and a caller with one short search could wait for the search timeout.
// So a search that has waited yieldWait asks a long one to yield: one that has run at least
// yieldMinRun, for a caller that used the store far more than the waiting one (over twice its
// time plus yieldMinRun, decaying with usageHalfLife). It is stopped and answered
// store.ErrYielded (503, retry). Callers of like use never stop each other, so that a few
// clinicians' slow worklists queue as before; one patient's search is never stopped for
// another's; an attacker's long searches give way to everyone else's.
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
	caller  string
	start   time.Time
	stop    context.CancelCauseFunc
	yielded bool // asked to stop; its slot is about to come back
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
		mainN: make(chan struct{}, mainConns), overflowN: make(chan struct{}, overflowConns),
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
	db, releaseSlot, err := l.slot(ctx, caller)
	if err != nil {
		return nil, nil, nil, err
	}
	runCtx, stop := context.WithCancelCause(ctx)
	r := &searchRun{caller: caller, start: l.now(), stop: stop}
	l.mu.Lock()
	l.running[r] = struct{}{}
	l.mu.Unlock()
	return db, runCtx, func() {
		l.finish(r)
		stop(nil)
		releaseSlot()
	}, nil
}

// slot waits for a slot of the read pool, then of either pool, asking a long search to yield
// once it has waited yieldWait.
func (l *lanes) slot(ctx context.Context, caller string) (*stmtCache, func(), error) {
	select {
	case l.mainN <- struct{}{}:
		return l.main, l.releaseMain, nil
	default:
	}
	began := time.Now()
	t := time.NewTimer(laneWait)
	defer t.Stop()
	select {
	case l.mainN <- struct{}{}:
		return l.main, l.releaseMain, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-t.C:
	}
	tick := time.NewTicker(yieldCheck)
	defer tick.Stop()
	for {
		select {
		case l.mainN <- struct{}{}:
			return l.main, l.releaseMain, nil
		case l.overflowN <- struct{}{}:
			return l.overflow, l.releaseOverflow, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-tick.C:
			if time.Since(began) >= yieldWait {
				l.askToYield(caller)
			}
		}
	}
}

// askToYield stops the search of the caller that used the store most, among those that ran
// yieldMinRun, if that caller used it far more than the waiting one. It stops one at a time.
func (l *lanes) askToYield(waiter string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	load := make(map[string]float64, len(l.running)+1)
	for r := range l.running {
		if r.yielded {
			return // a slot is coming back
		}
		load[r.caller] += now.Sub(r.start).Seconds()
	}
	bar := 2*(load[waiter]+l.used[waiter].asOf(now)) + yieldMinRun.Seconds()
	var victim *searchRun
	var most float64
	for r := range l.running {
		if r.caller == waiter || now.Sub(r.start) < yieldMinRun {
			continue
		}
		v := load[r.caller] + l.used[r.caller].asOf(now)
		if v <= bar {
			continue
		}
		if victim == nil || v > most || (v == most && r.start.Before(victim.start)) {
			victim, most = r, v
		}
	}
	if victim != nil {
		victim.yielded = true
		victim.stop(store.ErrYielded)
	}
}

// finish adds a search's time to its caller's usage.
func (l *lanes) finish(r *searchRun) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.running, r)
	now := l.now()
	l.used[r.caller] = usage{secs: l.used[r.caller].asOf(now) + now.Sub(r.start).Seconds(), at: now}
	if now.Sub(l.lastPrune) >= usagePrune {
		l.lastPrune = now
		for c, u := range l.used {
			if u.asOf(now) < 0.001 {
				delete(l.used, c)
			}
		}
	}
}

// yielded gives err the cause store.ErrYielded when the search was asked to yield (and its
// caller's own context did not end).
func yielded(ctx, runCtx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(runCtx), store.ErrYielded) {
		return fmt.Errorf("%w: %w", store.ErrYielded, err)
	}
	return err
}

func (l *lanes) releaseMain()     { <-l.mainN }
func (l *lanes) releaseOverflow() { <-l.overflowN }

func (l *lanes) close() {
	l.main.close()
	l.overflow.close()
	l.internal.close()
}
