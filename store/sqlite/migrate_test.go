package sqlite

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
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
	rewriteFile(t, dir, `DROP INDEX refs_by_target`,
		`CREATE INDEX refs_by_target ON refs (type, param, ref_id)`, `PRAGMA user_version = 3`)

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

// TestMigrateV4: a version-4 file, which kept a sort row for every token, opens as version 5
// without the rows of tokens sorted by their codes, with the row of a concept known by its
// text unwalked and the ranked rows kept; a _sort over old and new resources sees them all.
func TestMigrateV4(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	lu := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := func(param, code, text, sortKey string) store.IndexEntry {
		return store.IndexEntry{Param: param, Kind: store.KindToken, System: "s", Code: code, Text: text, SortKey: sortKey}
	}
	create := func(typ, id string, index ...store.IndexEntry) {
		t.Helper()
		if err := s.Write(t.Context(), store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1,
			LastUpdated: lu, Body: []byte(`{}`), Index: index}); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	create("Observation", "o1", tok("status", "final", "", "final"), tok("code", "b", "", "b"), tok("code", "a", "", "a"), tok("code", "", "glucose", "b"))
	create("Observation", "o2", tok("status", "amended", "", "amended"), tok("code", "", "glucose", "glucose"))
	create("Communication", "c1", tok("priority", "urgent", "", "2urgent"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Make it the version-4 file an older Portico wrote: a walkable sort row for every token.
	rewriteFile(t, dir,
		`DELETE FROM sorts`,
		`INSERT INTO sorts (rid, type, param, lo, hi, walk) SELECT rid, 'Observation', 'status', code, code, 1 FROM tokens WHERE param = 'status'`,
		`INSERT INTO sorts (rid, type, param, lo, hi, walk) SELECT rid, 'Observation', 'code', 'a', 'b', 1 FROM resources WHERE id = 'o1'`,
		`INSERT INTO sorts (rid, type, param, lo, hi, walk) SELECT rid, 'Observation', 'code', 'glucose', 'glucose', 1 FROM resources WHERE id = 'o2'`,
		`INSERT INTO sorts (rid, type, param, lo, hi, walk) SELECT rid, 'Communication', 'priority', '2urgent', '2urgent', 1 FROM resources WHERE id = 'c1'`,
		`PRAGMA user_version = 4`)

	s, err = Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatalf("Open version 4: %v", err)
	}
	defer s.Close()
	var version int
	if err := s.read.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&version); err != nil || version != schemaVersion {
		t.Fatalf("after migration: version %d (%v), want %d", version, err, schemaVersion)
	}
	rows, err := s.read.QueryContext(t.Context(), `SELECT r.id, s.param, s.lo, s.walk FROM sorts s JOIN resources r USING (rid) ORDER BY r.id, s.param`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, param, lo string
		var walk int
		if err := rows.Scan(&id, &param, &lo, &walk); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %d", id, param, lo, walk))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"c1 priority 2urgent 1", "o2 code glucose 0"}; !slices.Equal(got, want) {
		t.Errorf("sort rows after migration: %q, want %q", got, want)
	}

	create("Observation", "o3", tok("status", "final", "", "final"), tok("code", "c", "", "c"))
	for _, c := range []struct {
		sort store.Sort
		want string
	}{
		{store.Sort{Param: "code"}, "o1 o3 o2"},
		{store.Sort{Param: "code", Desc: true}, "o2 o3 o1"},
		{store.Sort{Param: "status"}, "o2 o1 o3"},
	} {
		page, err := s.Search(t.Context(), store.Query{Types: []string{"Observation"}, Count: 10, Sort: []store.Sort{c.sort}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range page.Records {
			ids = append(ids, r.ID)
		}
		if strings.Join(ids, " ") != c.want {
			t.Errorf("_sort %+v after migration: %v, want %s", c.sort, ids, c.want)
		}
	}
}

// rewriteFile runs stmts on the (closed) store's database in dir: the changes that make it the
// file an older Portico wrote.
func rewriteFile(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db := openPool(filepath.Join(dir, DatabaseFile), nil, 1)
	for _, stmt := range stmts {
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
