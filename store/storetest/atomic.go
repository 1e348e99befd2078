package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/portico-health/portico/store"
)

var atomicTests = []test{
	{"AllOrNothing", testAllOrNothing},
	{"SeveralVersionsInOneCall", testSeveralVersionsInOneCall},
	{"ConcurrentFailures", testConcurrentFailures},
}

// testAllOrNothing checks that one failing write in a call hides every other write of it,
// whichever position it has, including their index entries.
func testAllOrNothing(t *testing.T, s *handle) {
	mustWrite(t, s, create("Patient", "existing", at(1), tok("identifier", "urn:s", "e")))
	conflicting := update("Patient", "existing", 5, at(2))
	conditional := create("Patient", "dup", at(2))
	conditional.IfNoneExist = &store.Query{Types: []string{"Patient"}, Where: []store.Clause{identifier("urn:s", "e")}}

	cases := []struct {
		name   string
		writes func(good store.Write) []store.Write
		want   error
	}{
		{"good then conflicting", func(g store.Write) []store.Write { return []store.Write{g, conflicting} }, store.ErrVersionConflict},
		{"conflicting then good", func(g store.Write) []store.Write { return []store.Write{conflicting, g} }, store.ErrVersionConflict},
		{"good then existing match", func(g store.Write) []store.Write { return []store.Write{g, conditional} }, store.ErrExists},
		{"existing match then good", func(g store.Write) []store.Write { return []store.Write{conditional, g} }, store.ErrExists},
	}
	for i, c := range cases {
		id := string(rune('a' + i))
		good := create("Patient", id, at(2), tok("identifier", "urn:atomic", id))
		if err := multiWrite(t, s, c.writes(good)...); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
		if _, err := s.Read(t.Context(), "Patient", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the good write is visible after the call failed (Read err %v)", c.name, err)
		}
		page, err := s.Search(t.Context(), store.Query{Types: []string{"Patient"}, Count: 10,
			Where: []store.Clause{identifier("urn:atomic", id)}})
		if err != nil || len(page.Records) != 0 {
			t.Errorf("%s: index entries of the failed call are searchable: %q, %v", c.name, keys(page.Records), err)
		}
	}
	if _, err := s.Read(t.Context(), "Patient", "dup"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Patient/dup was written by a failed call (err %v)", err)
	}
	if got, err := s.Read(t.Context(), "Patient", "existing"); err != nil || got.Version != 1 {
		t.Errorf("Patient/existing changed: version %d, %v", got.Version, err)
	}
}

// testSeveralVersionsInOneCall checks that writes in one call apply in order, so a call may
// create a resource and update it.
func testSeveralVersionsInOneCall(t *testing.T, s *handle) {
	writes := []store.Write{
		create("Patient", "p", at(1)),
		update("Patient", "p", 2, at(1)),
		create("Observation", "o", at(1)),
	}
	if err := multiWrite(t, s, writes...); err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, w := range writes {
		got, err := s.VRead(t.Context(), w.Type, w.ID, w.Version)
		if err != nil {
			t.Fatalf("VRead(%s): %v", key(w.Type, w.ID, w.Version), err)
		}
		checkRecord(t, "VRead", got, w)
	}
}

// testConcurrentFailures mixes failing and succeeding calls from many goroutines, so that a
// backend which groups concurrent calls into one transaction must undo exactly the failing
// ones: every write of a failed call stays invisible, every succeeding call is kept.
func testConcurrentFailures(t *testing.T, s *handle) {
	if err := multiWrite(t, s, create("Patient", "anchor", at(1)), create("Basic", "probe", at(1))); err != nil {
		t.Fatalf("Write: %v", err)
	}
	const workers, rounds = 16, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				failing := []store.Write{
					create("Patient", fmt.Sprintf("lost-%d-%d", w, r), at(2)),
					update("Patient", "anchor", 1, at(2)), // version 1 exists: always conflicts
				}
				if err := s.Write(t.Context(), failing...); !errors.Is(err, store.ErrVersionConflict) {
					t.Errorf("failing call: err %v, want ErrVersionConflict", err)
				}
				if err := s.Write(t.Context(), create("Patient", fmt.Sprintf("kept-%d-%d", w, r), at(2))); err != nil {
					t.Errorf("succeeding call: %v", err)
				}
			}
		})
	}
	wg.Wait()
	for w := range workers {
		for r := range rounds {
			if _, err := s.Read(t.Context(), "Patient", fmt.Sprintf("lost-%d-%d", w, r)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("lost-%d-%d: a write of a failed call is visible (err %v)", w, r, err)
			}
		}
	}
	page, err := s.History(t.Context(), store.HistoryQuery{Type: "Patient", Count: 1000})
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(page.Records) != 1+workers*rounds {
		t.Errorf("history has %d versions, want %d (one per succeeding call)", len(page.Records), 1+workers*rounds)
	}
}
