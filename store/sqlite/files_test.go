package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestOpenRefusesWhatIsNotPortico: Open stops, with ErrNotPortico and a message naming the
// file, on a database file that is empty, not SQLite, another application's SQLite database or
// one without Portico's tables, and on a WAL left without its database; the file is left as
// it was (no WAL switch, no schema). A new directory, a file of an older Portico (no
// application_id) and the leftover of a first start that crashed still open.
func TestOpenRefusesWhatIsNotPortico(t *testing.T) {
	sqliteFile := func(stmts ...string) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			db := openPool(path, nil, 1)
			for _, stmt := range stmts {
				if _, err := db.ExecContext(t.Context(), stmt); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, path string)
		check string // file: the database file is checked unchanged
		want  string
	}{
		{"zero-length file", func(t *testing.T, path string) { writeFile(t, path, nil) }, "file", "is empty (0 bytes)"},
		{"not SQLite", func(t *testing.T, path string) { writeFile(t, path, []byte("patient,name\n1,Chalmers\n")) }, "file", "is not a SQLite database"},
		{"another application's", sqliteFile("CREATE TABLE notes (x)", "PRAGMA application_id = 1234", "PRAGMA user_version = 5"), "file", "another application's SQLite database (application_id 0x4d2)"},
		{"empty SQLite database", sqliteFile("PRAGMA page_size = 4096", "VACUUM"), "file", "without Portico's tables"},
		{"SQLite without Portico's tables", sqliteFile("CREATE TABLE versions (x)", "CREATE TABLE notes (y)"), "file", "without Portico's tables"},
		{"a WAL without its database", func(t *testing.T, path string) { writeFile(t, path+"-wal", []byte("left over")) }, "", "the database file was deleted or moved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, DatabaseFile)
			tc.make(t, path)
			before, _ := os.ReadFile(path)
			_, err := Open(t.Context(), Config{Dir: dir})
			if !errors.Is(err, ErrNotPortico) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v; want ErrNotPortico saying %q", err, tc.want)
			}
			if tc.check == "file" && !strings.Contains(err.Error(), path) {
				t.Errorf("the error does not name the file: %v", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Errorf("the file was changed: %d bytes, then %d", len(before), len(after))
			}
			if _, err := os.Stat(path + ".new"); err == nil {
				t.Error("a new database was made beside it")
			}
		})
	}

	t.Run("new directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		s, err := Open(t.Context(), Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		var app int
		if err := s.read.QueryRowContext(t.Context(), "PRAGMA application_id").Scan(&app); err != nil || app != applicationID {
			t.Errorf("application_id %#x, %v", app, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 1 {
			t.Errorf("files after a first start: %v", files)
		}
	})

	t.Run("older Portico's file", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(t.Context(), Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		putPatient(t, s, "p1")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		rewriteFile(t, dir, "PRAGMA application_id = 0", "DROP TABLE write_check")
		s, err = Open(t.Context(), Config{Dir: dir})
		if err != nil {
			t.Fatalf("Open a file without application_id: %v", err)
		}
		defer s.Close()
		var app int
		if err := s.read.QueryRowContext(t.Context(), "PRAGMA application_id").Scan(&app); err != nil || app != applicationID {
			t.Errorf("application_id after open %#x, %v", app, err)
		}
		if _, err := s.Read(t.Context(), "Patient", "p1"); err != nil {
			t.Error(err)
		}
		if err := s.CheckWrite(t.Context()); err != nil {
			t.Errorf("CheckWrite on a file without the table before: %v", err)
		}
	})

	t.Run("first start interrupted", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, DatabaseFile)
		writeFile(t, path+".new", []byte("half made"))
		writeFile(t, path+".new-wal", []byte("half made"))
		s, err := Open(t.Context(), Config{Dir: dir})
		if err != nil {
			t.Fatalf("Open after an interrupted first start: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCheckWriteChangesNoData: the write check commits, yet leaves the resources and their
// history as they were.
func TestCheckWriteChangesNoData(t *testing.T) {
	s, err := Open(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	putPatient(t, s, "p1")
	for range 3 {
		if err := s.CheckWrite(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	var versions, resources int
	if err := s.read.QueryRowContext(t.Context(), "SELECT (SELECT count(*) FROM versions), (SELECT count(*) FROM resources)").Scan(&versions, &resources); err != nil {
		t.Fatal(err)
	}
	if versions != 1 || resources != 1 {
		t.Errorf("after three write checks: %d versions, %d resources; want 1 and 1", versions, resources)
	}
	page, err := s.History(t.Context(), store.HistoryQuery{Count: 10})
	if err != nil || len(page.Records) != 1 {
		t.Errorf("system history: %v, %d entries", err, len(page.Records))
	}
	var at int64
	if err := s.read.QueryRowContext(t.Context(), "SELECT at FROM write_check").Scan(&at); err != nil || time.Since(time.Unix(0, at)) > time.Minute {
		t.Errorf("write_check row: %v, %v", at, err)
	}
}

// TestQuickCheckFindsDamage: a database with a damaged index page opens, but CheckWrite (hence
// /readyz) fails once the start-up integrity check has read it; a sound one passes.
func TestQuickCheckFindsDamage(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		putPatient(t, s, fmt.Sprintf("p%d", i))
	}
	var root, pageSize int64
	if err := s.read.QueryRowContext(t.Context(), "SELECT rootpage FROM sqlite_schema WHERE name = 'versions_by_time'").Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := s.read.QueryRowContext(t.Context(), "PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	waitChecked := func(s *Store) error { // CheckWrite waits for the integrity check
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		err := s.CheckWrite(ctx)
		if errors.Is(err, errQuickCheckRunning) {
			t.Fatal("the integrity check did not end within 10 s")
		}
		return err
	}
	s, err = Open(t.Context(), Config{Dir: dir, QuickCheck: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitChecked(s); err != nil {
		t.Fatalf("sound database: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := os.OpenFile(filepath.Join(dir, DatabaseFile), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, int(pageSize)), (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), Config{Dir: dir, QuickCheck: 10 * time.Second})
	if err != nil {
		t.Fatalf("Open of a database with a damaged index page: %v", err)
	}
	defer s.Close()
	err = waitChecked(s)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "quick_check") {
		t.Errorf("CheckWrite on a damaged database: %v; want the quick_check's finding", err)
	}
	if _, rerr := s.Read(t.Context(), "Patient", "p1"); rerr != nil {
		t.Logf("a read beside the damage: %v", rerr) // reads of sound pages still work
	}
}

// TestQuickCheckStoppedAtItsLimit: a check that cannot finish in time counts as passed.
func TestQuickCheckStoppedAtItsLimit(t *testing.T) {
	s, err := Open(t.Context(), Config{Dir: t.TempDir(), QuickCheck: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	<-s.quick.done
	if err := s.CheckWrite(t.Context()); err != nil {
		t.Errorf("after a check stopped at its limit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func putPatient(t *testing.T, s *Store, id string) {
	t.Helper()
	if err := s.Write(t.Context(), store.Write{Op: store.OpCreate, Type: "Patient", ID: id, Version: 1,
		LastUpdated: time.Now(), Body: []byte(`{"resourceType":"Patient"}`)}); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
