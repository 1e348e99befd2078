package lanes

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestWhoYields is the rule of askToYield, case by case: which search in flight (caller, how
// long it has run, its caller's past use) is stopped for a waiting caller, if any.
func TestWhoYields(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	type running struct {
		caller  string
		rank    int
		ran     time.Duration
		yielded bool
	}
	for _, tc := range []struct {
		name    string
		used    map[string]usage
		running []running
		waiter  string
		rank    int // the waiter's
		want    int // index in running of the search stopped, -1 for none
	}{
		{name: "a newcomer stops the longest search of the caller that used most",
			running: []running{{caller: "m", ran: 2 * time.Second}, {caller: "m", ran: 3 * time.Second}, {caller: "n", ran: 1500 * time.Millisecond}},
			waiter:  "bob", want: 1},
		{name: "the caller that used most yields before the longest search",
			used:    map[string]usage{"m": {secs: 30, at: t0}},
			running: []running{{caller: "m", ran: 1200 * time.Millisecond}, {caller: "n", ran: 4 * time.Second}},
			waiter:  "bob", want: 0},
		{name: "no search stops before it ran yieldMinRun",
			running: []running{{caller: "m", ran: 900 * time.Millisecond}, {caller: "n", ran: 900 * time.Millisecond}},
			waiter:  "bob", want: -1},
		{name: "nothing stops while a search that may soon end holds a slot",
			running: []running{{caller: "m", ran: 5 * time.Second}, {caller: "n", ran: 300 * time.Millisecond}},
			waiter:  "bob", want: -1},
		{name: "callers of like use queue (a clinic's slow worklists)",
			used:    map[string]usage{"c1": {secs: 6, at: t0}, "c2": {secs: 6, at: t0}, "c3": {secs: 6, at: t0}},
			running: []running{{caller: "c1", ran: 3 * time.Second}, {caller: "c2", ran: 3 * time.Second}},
			waiter:  "c3", want: -1},
		{name: "a caller does not stop its own search",
			running: []running{{caller: "m", ran: 5 * time.Second}},
			waiter:  "m", want: -1},
		{name: "one at a time: while a stopped search gives its slot back, nothing else is stopped",
			running: []running{{caller: "m", ran: 5 * time.Second, yielded: true}, {caller: "n", ran: 5 * time.Second}},
			waiter:  "bob", want: -1},
		{name: "use long past is forgotten",
			used:    map[string]usage{"bob": {secs: 100, at: t0.Add(-time.Hour)}},
			running: []running{{caller: "m", ran: 2 * time.Second}},
			waiter:  "bob", want: 0},
		{name: "a patient's app never stops a clinician's search, however fresh the patient",
			running: []running{{caller: "dr", rank: 1, ran: 3 * time.Second}, {caller: "m", ran: 1500 * time.Millisecond}},
			used:    map[string]usage{"dr": {secs: 60, at: t0}},
			waiter:  "fresh", want: 1},
		{name: "staff may stop a patient's app's search",
			running: []running{{caller: "m", ran: 3 * time.Second}},
			waiter:  "dr", rank: 1, want: 0},
		{name: "recent use counts",
			used:    map[string]usage{"bob": {secs: 5, at: t0}},
			running: []running{{caller: "m", ran: 2 * time.Second}},
			waiter:  "bob", want: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(1, 1)
			l.now = func() time.Time { return t0 }
			for c, u := range tc.used {
				l.used[c] = u
			}
			var ctxs []context.Context
			var runs []*searchRun
			for _, r := range tc.running {
				ctx, stop := context.WithCancelCause(t.Context())
				defer stop(nil)
				sr := &searchRun{caller: store.Caller{Name: r.caller, Rank: r.rank}, start: t0.Add(-r.ran), stop: stop, yielded: r.yielded}
				l.running[sr] = struct{}{}
				ctxs, runs = append(ctxs, ctx), append(runs, sr)
			}
			w := &waiter{caller: store.Caller{Name: tc.waiter, Rank: tc.rank}, since: t0.Add(-time.Second), overflow: true, granted: make(chan int, 1)}
			l.queue = append(l.queue, w)
			l.askToYield(w)
			for i, ctx := range ctxs {
				stopped := errors.Is(context.Cause(ctx), store.ErrYielded)
				if stopped != (i == tc.want) {
					t.Errorf("search %d (%s, ran %v): stopped %v, want %v", i, runs[i].caller.Name, tc.running[i].ran, stopped, i == tc.want)
				}
			}
		})
	}
}

// TestUsageDecays: a caller's use halves every usageHalfLife, and finish adds a search's time.
func TestUsageDecays(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	now := t0
	l := New(0, 0)
	l.now = func() time.Time { return now }
	r := &searchRun{caller: store.Caller{Name: "m"}, start: t0, stop: func(error) {}}
	l.running[r] = struct{}{}
	now = t0.Add(4 * time.Second)
	l.finish(r, Main)
	if got := l.used["m"].asOf(now); got != 4 {
		t.Errorf("after one 4 s search: %v s, want 4", got)
	}
	if got := l.used["m"].asOf(now.Add(usageHalfLife)); got != 2 {
		t.Errorf("a half-life later: %v s, want 2", got)
	}
	if len(l.running) != 0 {
		t.Errorf("finish left the search running")
	}
}

// TestLightestCallerFirst: a freed slot goes to the waiting caller that used the store least,
// not to the one that waited longest.
func TestLightestCallerFirst(t *testing.T) {
	l := New(1, 0)
	l.used["heavy"] = usage{secs: 100, at: time.Now()}
	if pool, err := l.slot(t.Context(), store.Caller{Name: "heavy"}); err != nil || pool != Main {
		t.Fatalf("the free slot: %d, %v", pool, err)
	}
	got := make(chan string, 2)
	wait := func(caller string) {
		if _, err := l.slot(t.Context(), store.Caller{Name: caller}); err != nil {
			t.Error(err)
		}
		got <- caller
	}
	go wait("heavy")
	waitQueued(l, 1) // heavy queues first
	go wait("bob")
	waitQueued(l, 2)
	l.release(Main)
	if first := <-got; first != "bob" {
		t.Errorf("the freed slot went to %s, want bob (who used the store least)", first)
	}
	l.release(Main)
	if second := <-got; second != "heavy" {
		t.Errorf("then %s, want heavy", second)
	}
}

// TestHigherRankFirst: a freed slot goes to a waiting clinician before patients' apps that
// used the store less (a handful of fresh patient accounts held a worklist to the search
// timeout in a blind attack).
func TestHigherRankFirst(t *testing.T) {
	l := New(1, 0)
	l.used["dr"] = usage{secs: 100, at: time.Now()}
	if _, err := l.slot(t.Context(), store.Caller{Name: "m0"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 3)
	for i, c := range []store.Caller{{Name: "fresh1"}, {Name: "dr", Rank: 1}, {Name: "fresh2"}} {
		go func() {
			if _, err := l.slot(t.Context(), c); err != nil {
				t.Error(err)
			}
			got <- c.Name
		}()
		waitQueued(l, i+1) // queued in this order
	}
	l.release(Main)
	if first := <-got; first != "dr" {
		t.Errorf("the freed slot went to %s, want the clinician", first)
	}
	l.release(Main)
	<-got
	l.release(Main)
	<-got
}

// TestYieldedSlotGoesToTheWaiter: the slot of a search stopped for a waiting one goes to that
// one, even when a caller served before it (a clinician) waits too.
func TestYieldedSlotGoesToTheWaiter(t *testing.T) {
	l := New(0, 0)
	ctx, stop := context.WithCancelCause(t.Context())
	defer stop(nil)
	victim := &searchRun{caller: store.Caller{Name: "m"}, start: time.Now().Add(-5 * time.Second), stop: stop}
	l.running[victim] = struct{}{}
	bob := &waiter{caller: store.Caller{Name: "bob"}, since: time.Now().Add(-time.Second), overflow: true, granted: make(chan int, 1)}
	dr := &waiter{caller: store.Caller{Name: "dr", Rank: 1}, since: time.Now(), overflow: true, granted: make(chan int, 1)}
	l.queue = []*waiter{bob, dr}
	l.askToYield(bob)
	if !errors.Is(context.Cause(ctx), store.ErrYielded) {
		t.Fatal("the long search was not asked to yield")
	}
	l.finish(victim, Main)
	select {
	case <-bob.granted:
	default:
		t.Error("the freed slot did not go to the search it was given up for")
	}
	if len(dr.granted) != 0 {
		t.Error("the clinician took the slot given up for bob")
	}
}

// waitQueued returns once n searches wait in l's queue.
func waitQueued(l *Lanes, n int) {
	for {
		l.mu.Lock()
		queued := len(l.queue)
		l.mu.Unlock()
		if queued >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
