package sqlite_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-health/portico/store/sqlite"
)

// TestFilePermissions: a new data directory is 0700 and the database files 0600; the files of
// an older store (0755, 0644) are restricted to their owner at open, with a log line.
func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := openTest(t, sqlite.Config{Dir: dir})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mode := func(p string) os.FileMode {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	db := filepath.Join(dir, sqlite.DatabaseFile)
	if m := mode(dir); m != 0o700 {
		t.Errorf("new data directory %v, want 0700", m)
	}
	if m := mode(db); m != 0o600 {
		t.Errorf("new database file %v, want 0600", m)
	}

	for p, m := range map[string]os.FileMode{dir: 0o755, db: 0o644} {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(db+"-wal", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := sqlite.Open(t.Context(), sqlite.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		if m := mode(p); m&0o077 != 0 {
			t.Errorf("%s is %v after open", filepath.Base(p), m)
		}
	}
	if m := mode(dir); m != 0o700 {
		t.Errorf("data directory %v after open", m)
	}
	if n := strings.Count(logs.String(), "restricted the permissions"); n != 3 {
		t.Errorf("%d log lines about permissions, want 3 (directory, database, WAL):\n%s", n, logs.String())
	}
}
