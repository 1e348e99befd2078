package sqlite_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// TestPurgeLeavesNoBytes: the bodies of a purged resource are not left in the database file's
// free pages (secure_delete), so that a purged signing key cannot be read back from a copy of
// the file.
func TestPurgeLeavesNoBytes(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, sqlite.Config{Dir: dir})
	secret := func(v int) []byte {
		return []byte(`{"key":"` + strings.Repeat("S3CRET-KEY-MATERIAL-", 200) + string(rune('0'+v)) + `"}`)
	}
	now := time.Now().UTC()
	for v := int64(1); v <= 3; v++ {
		op := store.OpUpdate
		if v == 1 {
			op = store.OpCreate
		}
		if err := s.Write(t.Context(), store.Write{Op: op, Type: "Key", ID: "k", Version: v, LastUpdated: now, Body: secret(int(v))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(t.Context(), store.Write{Op: store.OpCreate, Type: "Other", ID: "o", Version: 1, LastUpdated: now, Body: []byte(`{"keep":"me"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(t.Context(), "Key", "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, sqlite.DatabaseFile+"*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("S3CRET-KEY-MATERIAL")) {
			t.Errorf("%s still holds the purged bodies", filepath.Base(f))
		}
	}
	s = openTest(t, sqlite.Config{Dir: dir})
	defer s.Close()
	if _, err := s.Read(t.Context(), "Other", "o"); err != nil {
		t.Errorf("the other resource: %v", err)
	}
}
