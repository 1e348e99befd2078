package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestMigrateV3: a version-3 file (refs_by_target ordered type, param, ref_id) opens as
// version 4 with the index rebuilt in its new order, and its references are still found.
func TestMigrateV3(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	lu := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ref := store.IndexEntry{Param: "subject", Kind: store.KindReference, RefType: "Patient", RefID: "p1"}
	if err := s.Write(t.Context(), store.Write{Op: store.OpCreate, Type: "Observation", ID: "o1", Version: 1,
		LastUpdated: lu, Body: []byte(`{}`), Index: []store.IndexEntry{ref}}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Make it the version-3 file an older Portico wrote.
	db := openPool(filepath.Join(dir, DatabaseFile), nil, 1)
	for _, stmt := range []string{`DROP INDEX refs_by_target`,
		`CREATE INDEX refs_by_target ON refs (type, param, ref_id)`, `PRAGMA user_version = 3`} {
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatalf("Open version 3: %v", err)
	}
	defer s.Close()
	var version int
	var index string
	if err := s.read.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := s.read.QueryRowContext(t.Context(), "SELECT sql FROM sqlite_schema WHERE name = 'refs_by_target'").Scan(&index); err != nil {
		t.Fatal(err)
	}
	if version != schemaVersion || index != refsByTarget {
		t.Errorf("after migration: version %d, index %q; want %d, %q", version, index, schemaVersion, refsByTarget)
	}
	page, err := s.Search(t.Context(), store.Query{Types: []string{"Observation"}, Count: 10, Where: []store.Clause{{
		Param: "subject", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: "p1"}}}}})
	if err != nil || len(page.Records) != 1 || page.Records[0].ID != "o1" {
		t.Errorf("search after migration: %v, %+v", err, page.Records)
	}
}
