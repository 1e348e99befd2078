package storetest

import (
	"errors"
	"testing"

	"github.com/portico-health/portico/store"
)

var versionTests = []test{
	{"CreateRead", testCreateRead},
	{"ReadMissing", testReadMissing},
	{"Sequence", testSequence},
	{"VRead", testVRead},
	{"Conflicts", testConflicts},
}

func testCreateRead(t *testing.T, s *handle) {
	w := create("Patient", "p1", at(1))
	mustWrite(t, s, w)
	got, err := s.Read(t.Context(), "Patient", "p1")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	checkRecord(t, "Read", got, w)
	if got.Deleted() {
		t.Error("a created resource reads as deleted")
	}
}

func testReadMissing(t *testing.T, s *handle) {
	mustWrite(t, s, create("Patient", "p1", at(1)))
	for _, c := range []struct{ typ, id string }{
		{"Patient", "p2"},
		{"Observation", "p1"}, // ids are per type
		{"Patient", "P1"},     // ids are case-sensitive
	} {
		if _, err := s.Read(t.Context(), c.typ, c.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Read(%s/%s): err %v, want ErrNotFound", c.typ, c.id, err)
		}
	}
}

// sequence is create, update, delete, update-after-delete of Patient/p: the tombstone takes
// version 3 and the update after it continues with 4.
func sequence() []store.Write {
	return []store.Write{
		create("Patient", "p", at(1)),
		update("Patient", "p", 2, at(2)),
		del("Patient", "p", 3, at(3)),
		update("Patient", "p", 4, at(4)),
	}
}

func testSequence(t *testing.T, s *handle) {
	writes := sequence()
	for i, w := range writes {
		mustWrite(t, s, w)
		got, err := s.Read(t.Context(), "Patient", "p")
		if w.Op == store.OpDelete {
			if !errors.Is(err, store.ErrGone) {
				t.Fatalf("Read after delete: err %v, want ErrGone", err)
			}
			if !got.Deleted() || got.Body != nil {
				t.Errorf("Read after delete returned %+v, want the tombstone", got)
			}
		} else if err != nil {
			t.Fatalf("Read after write %d: %v", i, err)
		}
		checkRecord(t, "Read after "+w.Op.String(), got, w)
	}
}

func testVRead(t *testing.T, s *handle) {
	writes := sequence()
	writeAll(t, s, writes)
	for _, w := range writes {
		got, err := s.VRead(t.Context(), w.Type, w.ID, w.Version)
		switch {
		case w.Op == store.OpDelete && !errors.Is(err, store.ErrGone):
			t.Errorf("VRead(%d) of the tombstone: err %v, want ErrGone", w.Version, err)
		case w.Op != store.OpDelete && err != nil:
			t.Errorf("VRead(%d): %v", w.Version, err)
		}
		checkRecord(t, "VRead", got, w)
	}
	for _, c := range []struct {
		id      string
		version int64
	}{{"p", 5}, {"p", 0}, {"p", 100}, {"q", 1}} {
		if _, err := s.VRead(t.Context(), "Patient", c.id, c.version); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("VRead(%s, %d): err %v, want ErrNotFound", c.id, c.version, err)
		}
	}
}

func testConflicts(t *testing.T, s *handle) {
	writeAll(t, s, []store.Write{create("Patient", "p", at(1)), update("Patient", "p", 2, at(2))})
	cases := []struct {
		name string
		w    store.Write
	}{
		{"create over an existing resource", create("Patient", "p", at(3))},
		{"stale update", update("Patient", "p", 2, at(3))},
		{"update skipping a version", update("Patient", "p", 4, at(3))},
		{"update of a resource that never existed", update("Patient", "q", 2, at(3))},
		{"delete skipping a version", del("Patient", "p", 5, at(3))},
	}
	for _, c := range cases {
		if err := s.Write(t.Context(), c.w); !errors.Is(err, store.ErrVersionConflict) {
			t.Errorf("%s: err %v, want ErrVersionConflict", c.name, err)
		}
	}
	got, err := s.Read(t.Context(), "Patient", "p")
	if err != nil || got.Version != 2 {
		t.Errorf("after rejected writes Read = version %d, %v; want version 2", got.Version, err)
	}
	if _, err := s.Read(t.Context(), "Patient", "q"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected update created Patient/q: err %v", err)
	}
}
