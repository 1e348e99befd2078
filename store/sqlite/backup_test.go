package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestBackupWhileWriting: a backup taken while writes go on is one consistent snapshot: every
// write acknowledged before it began is in it, each resource's versions are 1..n without a
// gap, and the copy restores into a new directory that opens as a store; the source went on
// taking writes throughout.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := []byte(`{"resourceType":"Patient"}`)
	for i := range 200 {
		putPatient(t, s, fmt.Sprintf("p%d", i))
	}

	// Writers: new patients, and one patient updated again and again.
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]int64{} // id → latest acknowledged version
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				id, version := fmt.Sprintf("w%d-%d", w, n), int64(1)
				if w == 1 {
					id, version = "p0", int64(n+2)
				}
				err := s.Write(ctx, store.Write{Op: store.OpUpdate, Type: "Patient", ID: id, Version: version, LastUpdated: time.Now(), Body: body})
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("write during the backup: %v", err)
					}
					return
				}
				mu.Lock()
				acked[id] = version
				mu.Unlock()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	before := len(acked)
	beforeP0 := acked["p0"]
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "portico-backup.db")
	info, err := Backup(t.Context(), dir, out)
	time.Sleep(50 * time.Millisecond)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	mu.Lock()
	after := len(acked)
	mu.Unlock()
	if before == 0 || after <= before {
		t.Errorf("writes before the backup %d, after it %d: the writers did not run throughout", before, after)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 || st.Size() != info.Bytes {
		t.Errorf("backup file: %v %v, info %+v", st.Mode(), err, info)
	}
	if info.Resources < int64(200+before-1) || info.SchemaVersion != schemaVersion {
		t.Errorf("backup info %+v: want at least %d resources", info, 200+before-1)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*partial")); len(leftovers) > 0 {
		t.Errorf("left behind: %v", leftovers)
	}

	restored := filepath.Join(t.TempDir(), "data")
	rinfo, err := Restore(t.Context(), out, restored)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if rinfo.Resources != info.Resources || rinfo.Versions != info.Versions {
		t.Errorf("restored %+v, backed up %+v", rinfo, info)
	}
	r, err := Open(t.Context(), Config{Dir: restored, QuickCheck: 10 * time.Second})
	if err != nil {
		t.Fatalf("Open the restored store: %v", err)
	}
	defer r.Close()
	if err := r.CheckWrite(t.Context()); err != nil {
		t.Errorf("the restored store: %v", err)
	}
	p0, err := r.Read(t.Context(), "Patient", "p0")
	if err != nil || p0.Version < beforeP0 {
		t.Fatalf("p0 in the backup: version %d, %v; version %d was acknowledged before the backup began", p0.Version, err, beforeP0)
	}
	page, err := r.History(t.Context(), store.HistoryQuery{Type: "Patient", ID: "p0", Count: 1000})
	if err != nil || int64(len(page.Records)) != p0.Version {
		t.Fatalf("p0's history: %d entries, %v; want %d", len(page.Records), err, p0.Version)
	}
	for i, rec := range page.Records {
		if want := p0.Version - int64(i); rec.Version != want {
			t.Fatalf("p0's history entry %d is version %d, want %d: a gap", i, rec.Version, want)
		}
	}
	for i := range 200 {
		if _, err := r.Read(t.Context(), "Patient", fmt.Sprintf("p%d", i)); err != nil {
			t.Fatalf("p%d: %v", i, err)
		}
	}
}

// TestBackupAndRestoreRefuse: a backup never replaces a file and needs a Portico database; a
// restore never replaces a database and needs a sound Portico backup.
func TestBackupAndRestoreRefuse(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	putPatient(t, s, "p1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	existing := filepath.Join(tmp, "exists.db")
	writeFile(t, existing, []byte("keep me"))
	notPortico := filepath.Join(tmp, "notes.txt")
	writeFile(t, notPortico, []byte("not a database"))
	good := filepath.Join(tmp, "good.db")
	if _, err := Backup(t.Context(), dir, good); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(tmp, "damaged.db")
	data, _ := os.ReadFile(good)
	writeFile(t, damaged, data[:len(data)/2])

	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"backup over a file", func() error { _, err := Backup(t.Context(), dir, existing); return err }, "exists"},
		{"backup of a directory without a database", func() error { _, err := Backup(t.Context(), t.TempDir(), filepath.Join(tmp, "x.db")); return err }, "no database"},
		{"restore over a database", func() error { _, err := Restore(t.Context(), good, dir); return err }, "exists"},
		{"restore of a file that is not a database", func() error { _, err := Restore(t.Context(), notPortico, t.TempDir()); return err }, "not a SQLite database"},
		{"restore of a damaged copy", func() error { _, err := Restore(t.Context(), damaged, t.TempDir()); return err }, "malformed"},
	} {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	if data, _ := os.ReadFile(existing); string(data) != "keep me" {
		t.Error("the backup replaced a file")
	}
	if s, err := Open(t.Context(), Config{Dir: dir}); err != nil {
		t.Errorf("the database after a refused restore: %v", err)
	} else if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var notPorticoErr error
	_, notPorticoErr = Restore(t.Context(), notPortico, t.TempDir())
	if !errors.Is(notPorticoErr, ErrNotPortico) {
		t.Errorf("restore of a file that is not a database: %v, want ErrNotPortico", notPorticoErr)
	}
}
