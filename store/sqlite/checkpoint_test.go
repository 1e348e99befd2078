package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestBackgroundCheckpoint: the writer no longer checkpoints below 50,000 WAL frames, so the
// database file grows only because the checkpointer copies committed frames into it.
func TestBackgroundCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	path := filepath.Join(dir, DatabaseFile)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	lu := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		var writes []store.Write
		for k := range 50 {
			id := fmt.Sprintf("r%d-%d", i, k)
			writes = append(writes, store.Write{Op: store.OpCreate, Type: "Basic", ID: id, Version: 1, LastUpdated: lu,
				Body:  []byte(`{"resourceType":"Basic","note":"` + id + `"}`),
				Index: []store.IndexEntry{{Param: "code", Kind: store.KindToken, Code: id, SortKey: id}}})
		}
		if err := s.Write(t.Context(), writes...); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes: nothing was checkpointed", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
