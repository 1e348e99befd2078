package sqlite_test

import (
	"context"
	"errors"
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
