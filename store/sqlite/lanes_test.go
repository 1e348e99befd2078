package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// TestCostlySearchesLeaveRoom: searches in flight on every read connection (costly ones, that
// hold them for seconds) do not hold up reads by id, which have their own pool, nor other
// searches, which take the overflow pool; with both held, reads by id still run and a search
// waits (here until its context ends), but not the server's own (store.Internal: a token's
// checks). The blind attack's reader-pool starvation probe:
// BenchmarkReadsBesideCostlySearches measures the waits.
func TestCostlySearchesLeaveRoom(t *testing.T) {
	s := openTest(t, sqlite.Config{Sync: "normal", ReadConns: 2})
	defer s.Close()
	if err := s.Write(t.Context(), store.Write{Op: store.OpCreate, Type: "Patient", ID: "p1", Version: 1,
		LastUpdated: time.Now(), Body: []byte(`{"resourceType":"Patient","id":"p1"}`)}); err != nil {
		t.Fatal(err)
	}
	search := store.Query{Types: []string{"Patient"}, Count: 10}
	within := func(what string, f func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a bound, not a measure: it hangs otherwise
		defer cancel()
		if err := f(ctx); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	read := func(ctx context.Context) error { _, err := s.Read(ctx, "Patient", "p1"); return err }
	vread := func(ctx context.Context) error { _, err := s.VRead(ctx, "Patient", "p1", 1); return err }
	searchOK := func(ctx context.Context) error {
		page, err := s.Search(ctx, search)
		if err == nil && len(page.Records) != 1 {
			err = errors.New("wrong page")
		}
		return err
	}
	history := func(ctx context.Context) error {
		_, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "p1", Count: 10})
		return err
	}

	release := s.HoldSearchSlots(2, 0)
	within("read with every read connection searching", read)
	within("vread with every read connection searching", vread)
	within("search with every read connection searching", searchOK)
	within("history with every read connection searching", history)
	release()

	release = s.HoldSearchSlots(2, 2)
	within("read with both search pools full", read)
	within("the server's own search with both search pools full", func(ctx context.Context) error {
		return searchOK(store.Internal(ctx))
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	_, err := s.Search(ctx, search)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("search with both pools full: %v, want it to wait for a slot", err)
	}
	release()
	within("search once the slots are free", searchOK)
}

// TestLongSearchesYield: with every search connection held by one caller's long searches (a
// chained :contains over every Observation, as in the blind attack), another caller's short
// search does not wait for them to end: the longest is stopped, answered store.ErrYielded, and
// the short search runs. The lanes' clock runs ahead once the long searches started, so that
// they count as long on any machine; the searches (a second or more each) must not end on their
// own before the short one has waited yieldWait, or its slot would come without a yield.
func TestLongSearchesYield(t *testing.T) {
	s := openTest(t, sqlite.Config{Sync: "normal", ReadConns: 1})
	defer s.Close()
	var skew atomic.Int64
	s.SetLaneClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	const patients, perPatient = 2000, 25
	var writes []store.Write
	for i := range patients {
		writes = append(writes, store.Write{Op: store.OpCreate, Type: "Patient", ID: fmt.Sprintf("p%d", i), Version: 1,
			LastUpdated: time.Now(), Body: []byte(`{"resourceType":"Patient"}`),
			Index: []store.IndexEntry{{Param: "name", Kind: store.KindString, Text: fmt.Sprintf("smith%d", i)}}})
		for j := range perPatient {
			writes = append(writes, store.Write{Op: store.OpCreate, Type: "Observation", ID: fmt.Sprintf("o%d-%d", i, j), Version: 1,
				LastUpdated: time.Now(), Body: []byte(`{"resourceType":"Observation"}`),
				Index: []store.IndexEntry{{Param: "patient", Kind: store.KindReference, RefType: "Patient", RefID: fmt.Sprintf("p%d", i)}}})
		}
	}
	if err := s.Write(t.Context(), writes...); err != nil {
		t.Fatal(err)
	}
	long := costlyChainCount()
	started := time.Now()
	if _, err := s.Search(t.Context(), long); err != nil {
		t.Fatal(err)
	}
	t.Logf("one long search alone: %v", time.Since(started))

	// Mallory keeps both connections searching until the test ends.
	mallory := store.WithCaller(t.Context(), store.Caller{Name: "mallory"})
	stop := make(chan struct{})
	var yields atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.Search(mallory, long)
				switch {
				case errors.Is(err, store.ErrYielded):
					yields.Add(1)
				case err != nil:
					t.Errorf("mallory's search: %v", err)
					return
				}
			}
		})
	}
	for s.SearchesRunning() < 2 { // both connections searching
		time.Sleep(time.Millisecond)
	}
	skew.Store(int64(time.Hour))                                                                              // mallory's searches have now run long, and mallory used the store for hours
	ctx, cancel := context.WithTimeout(store.WithCaller(t.Context(), store.Caller{Name: "bob"}), time.Minute) // a bound, not a measure
	defer cancel()
	page, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 1, Where: []store.Clause{{Param: "_id", Kind: store.KindToken, Values: []store.Value{{Code: "p7"}}}}})
	close(stop)
	wg.Wait()
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("bob's search beside mallory's: %d records, %v", len(page.Records), err)
	}
	if yields.Load() == 0 {
		t.Errorf("no search of mallory's yielded: bob's search waited for one to end")
	}
}

// costlyChainCount is a costly search an attacker with a patient's token could send: a count
// of every Observation through a chained :contains with 100 values on their Patients' names
// (seconds on 100,000 Observations).
func costlyChainCount() store.Query {
	var names []store.Value
	for i := range 100 {
		names = append(names, store.Value{Text: fmt.Sprintf("q%02dz", i)})
	}
	return store.Query{Types: []string{"Observation"}, Count: 20, Total: true, Where: []store.Clause{{
		Param: "patient", Kind: store.KindReference, Chain: &store.Query{Types: []string{"Patient"},
			Where: []store.Clause{{Param: "name", Kind: store.KindString, Modifier: store.ModContains, Values: names}}}}}}
}
