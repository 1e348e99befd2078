package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portico-health/portico/store"
)

var conditionalTests = []test{
	{"IfNoneExist", testIfNoneExist},
	{"ConcurrentIfNoneExist", testConcurrentIfNoneExist},
}

func testIfNoneExist(t *testing.T, s *handle) {
	writeAll(t, s, []store.Write{
		create("Patient", "a", at(1), tok("identifier", "urn:mrn", "1")),
		create("Patient", "b", at(1), tok("identifier", "urn:mrn", "2"), tok("identifier", "urn:ssn", "9")),
		create("Patient", "c", at(1), tok("identifier", "urn:mrn", "2")),
		create("Patient", "d", at(1), tok("identifier", "urn:mrn", "3")),
		del("Patient", "d", 2, at(2)),
		create("Patient", "e", at(1), tok("identifier", "urn:mrn", "4")),
		update("Patient", "e", 2, at(2), tok("identifier", "urn:mrn", "5")),
		create("Observation", "o", at(1), tok("identifier", "urn:mrn", "6")),
	})
	cases := []struct {
		name    string
		clause  store.Clause
		matches []string // nil: the conditional create is written
	}{
		{"no match", identifier("urn:mrn", "7"), nil},
		{"one match", identifier("urn:mrn", "1"), []string{key("Patient", "a", 1)}},
		{"several matches", identifier("urn:mrn", "2"), []string{key("Patient", "b", 1), key("Patient", "c", 1)}},
		{"deleted resource", identifier("urn:mrn", "3"), nil},
		{"superseded version", identifier("urn:mrn", "4"), nil},
		{"current version", identifier("urn:mrn", "5"), []string{key("Patient", "e", 2)}},
		{"other type", identifier("urn:mrn", "6"), nil},
		{"by _id", idClause("a"), []string{key("Patient", "a", 1)}},
	}
	for i, c := range cases {
		id := fmt.Sprintf("new-%d", i)
		w := create("Patient", id, at(3))
		w.IfNoneExist = &store.Query{Types: []string{"Patient"}, Where: []store.Clause{c.clause}}
		err := s.Write(t.Context(), w)
		_, readErr := s.Read(t.Context(), "Patient", id)
		if c.matches == nil {
			if err != nil || readErr != nil {
				t.Errorf("%s: Write err %v, Read err %v; want the resource written", c.name, err, readErr)
			}
			continue
		}
		var exists *store.ExistsError
		if !errors.As(err, &exists) || !errors.Is(err, store.ErrExists) {
			t.Errorf("%s: err %v, want an *ExistsError", c.name, err)
			continue
		}
		got := keys(exists.Matches)
		slices.Sort(got)
		equalKeys(t, c.name+": matches", got, c.matches)
		for _, m := range exists.Matches {
			if len(m.Body) == 0 {
				t.Errorf("%s: match %s has no body", c.name, key(m.Type, m.ID, m.Version))
			}
		}
		if !errors.Is(readErr, store.ErrNotFound) {
			t.Errorf("%s: the conditional create was written although it matched (Read err %v)", c.name, readErr)
		}
	}
}

// testConcurrentIfNoneExist races conditional creates of the same identifier under different
// ids: the check and the write are one atomic unit, so exactly one may win.
func testConcurrentIfNoneExist(t *testing.T, s *handle) {
	const racers = 16
	var created, existed atomic.Int32
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			w := create("Patient", fmt.Sprintf("racer-%d", i), at(1), tok("identifier", "urn:mrn", "race"))
			w.IfNoneExist = &store.Query{Types: []string{"Patient"}, Where: []store.Clause{identifier("urn:mrn", "race")}}
			switch err := s.Write(t.Context(), w); {
			case err == nil:
				created.Add(1)
			case errors.Is(err, store.ErrExists):
				existed.Add(1)
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 || existed.Load() != racers-1 {
		t.Errorf("%d created and %d found a match, want 1 and %d", created.Load(), existed.Load(), racers-1)
	}
}
