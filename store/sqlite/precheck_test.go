package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestConditionalCreateOutsideTheWriter: a conditional create's criteria are searched in the
// search lanes, not by the single writer (precheck.go): with every search slot held, other
// writes go through while it waits; and a match written between that search and its commit is
// still found, by the writer's check of what was written since.
func TestConditionalCreateOutsideTheWriter(t *testing.T) {
	s, err := Open(t.Context(), Config{Dir: t.TempDir(), Sync: "normal", ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lu := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	patient := func(id, family string) store.Write {
		return store.Write{Op: store.OpCreate, Type: "Patient", ID: id, Version: 1, LastUpdated: lu,
			Body:  []byte(`{"resourceType":"Patient","id":"` + id + `"}`),
			Index: []store.IndexEntry{{Param: "family", Kind: store.KindString, Code: family, Text: family}}}
	}
	byFamily := func(family string) *store.Query {
		return &store.Query{Types: []string{"Patient"}, Where: []store.Clause{{Param: "family", Kind: store.KindString, Values: []store.Value{{Text: family}}}}}
	}
	ctx := t.Context()

	release := s.lanes.lanes.Hold(1, 1)
	cond := patient("c1", "smith")
	cond.IfNoneExist = byFamily("smith")
	done := make(chan error, 1)
	go func() { done <- s.Write(ctx, cond) }()
	time.Sleep(100 * time.Millisecond)
	plain, cancel := context.WithTimeout(ctx, 5*time.Second) // a bound, not a measure
	defer cancel()
	if err := s.Write(plain, patient("p1", "jones")); err != nil {
		t.Errorf("a plain create while a conditional create waits for a search slot: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the conditional create ran with every search slot held: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("the conditional create once a slot is free: %v", err)
	}

	// A match committed after the criteria were searched, before the write commits.
	afterPrecheck = func() {
		afterPrecheck = nil
		if err := s.Write(ctx, patient("late", "brown")); err != nil {
			t.Error(err)
		}
	}
	defer func() { afterPrecheck = nil }()
	cond2 := patient("c2", "brown")
	cond2.IfNoneExist = byFamily("brown")
	var exists *store.ExistsError
	if err := s.Write(ctx, cond2); !errors.As(err, &exists) || len(exists.Matches) != 1 || exists.Matches[0].ID != "late" {
		t.Errorf("a match written after the search: %v, want ExistsError with it", err)
	}
	// Two conditional creates of one call: the second sees the first.
	a, b := patient("c3", "green"), patient("c4", "green")
	a.IfNoneExist, b.IfNoneExist = byFamily("green"), byFamily("green")
	if err := s.Write(ctx, a, b); !errors.As(err, &exists) {
		t.Errorf("the second of two conditional creates on the same criteria: %v, want ExistsError", err)
	}
}
