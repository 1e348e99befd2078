package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// RunTests runs the conformance suite against the backend that open creates. open must return
// a new, empty store for every call (a fresh directory, database or collection prefix); the
// suite closes it when the subtest ends. Subtests run in parallel, each on its own store.
func RunTests(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Versions", versionTests},
		{"Atomic", atomicTests},
		{"Conditional", conditionalTests},
		{"Search", searchTests},
		{"History", historyTests},
		{"Fidelity", fidelityTests},
		{"Concurrency", concurrencyTests},
		{"Lifecycle", lifecycleTests},
		{"Purge", purgeTests},
		{"Reindex", reindexTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, newHandle(t, open))
				})
			}
		})
	}
}

// test is one named check run against a fresh store.
type test struct {
	name string
	run  func(t *testing.T, h *handle)
}

// handle wraps the store under test so that a test may close it itself (the lifecycle tests)
// without the cleanup closing it a second time.
type handle struct {
	store.Store
	once sync.Once
	err  error
}

func newHandle(t *testing.T, open func(t *testing.T) store.Store) *handle {
	h := &handle{Store: open(t)}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// Close closes the store once and returns the first Close's error on every call.
func (h *handle) Close() error {
	h.once.Do(func() { h.err = h.Store.Close() })
	return h.err
}

// t0 is the suite's clock: whole seconds, so every backend keeps the instants exactly.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns the instant sec seconds after t0.
func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// body returns a small resource JSON whose bytes identify the version that carries them.
func body(typ, id string, version int64) []byte {
	return fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"meta":{"versionId":"%d"}}`, typ, id, version)
}

func create(typ, id string, lu time.Time, index ...store.IndexEntry) store.Write {
	return store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1, LastUpdated: lu,
		Body: body(typ, id, 1), Index: index}
}

func update(typ, id string, version int64, lu time.Time, index ...store.IndexEntry) store.Write {
	return store.Write{Op: store.OpUpdate, Type: typ, ID: id, Version: version, LastUpdated: lu,
		Body: body(typ, id, version), Index: index}
}

func del(typ, id string, version int64, lu time.Time) store.Write {
	return store.Write{Op: store.OpDelete, Type: typ, ID: id, Version: version, LastUpdated: lu}
}

// tok is a token index entry.
func tok(param, system, code string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindToken, System: system, Code: code}
}

// mustWrite applies writes and fails the test at once on any error.
func mustWrite(t *testing.T, s store.Store, writes ...store.Write) {
	t.Helper()
	if err := s.Write(t.Context(), writes...); err != nil {
		t.Fatalf("Write(%s): %v", keysOfWrites(writes), err)
	}
}

// writeAll applies each write in its own call, in order.
func writeAll(t *testing.T, s store.Store, writes []store.Write) {
	t.Helper()
	for _, w := range writes {
		mustWrite(t, s, w)
	}
}

// multiWrite applies writes in one call, or skips the test when the backend declares that it
// cannot apply several writes atomically.
func multiWrite(t *testing.T, s store.Store, writes ...store.Write) error {
	t.Helper()
	err := s.Write(t.Context(), writes...)
	if errors.Is(err, store.ErrNoTransactions) {
		t.Skip("backend has no multi-write transactions")
	}
	return err
}

// key names one version as "Type/ID/_history/Version", the form every assertion compares.
func key(typ, id string, version int64) string {
	return fmt.Sprintf("%s/%s/_history/%d", typ, id, version)
}

func keys(records []store.Record) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = key(r.Type, r.ID, r.Version)
	}
	return out
}

func keysOfWrites(writes []store.Write) []string {
	out := make([]string, len(writes))
	for i, w := range writes {
		out[i] = key(w.Type, w.ID, w.Version)
	}
	return out
}

// equalKeys fails the test when got and want differ, naming what the call was.
func equalKeys(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// checkRecord compares every field of a returned record with the write that made it.
func checkRecord(t *testing.T, what string, got store.Record, w store.Write) {
	t.Helper()
	if got.Type != w.Type || got.ID != w.ID || got.Version != w.Version || got.Op != w.Op {
		t.Errorf("%s: got %s op %v, want %s op %v", what, key(got.Type, got.ID, got.Version), got.Op,
			key(w.Type, w.ID, w.Version), w.Op)
	}
	if !sameInstant(got.LastUpdated, w.LastUpdated) {
		t.Errorf("%s: LastUpdated %v, want %v", what, got.LastUpdated, w.LastUpdated)
	}
	if string(got.Body) != string(w.Body) || (got.Body == nil) != (w.Body == nil) {
		t.Errorf("%s: Body %q, want %q", what, got.Body, w.Body)
	}
}

// sameInstant reports whether got is want to the millisecond, in UTC: the precision the
// contract promises (FHIR instants need no more, and MongoDB dates keep no more).
func sameInstant(got, want time.Time) bool {
	return got.Location() == time.UTC && got.Sub(want).Abs() < time.Millisecond
}
