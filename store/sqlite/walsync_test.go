package sqlite

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// stubSyncWAL replaces the WAL fsync for one test.
func stubSyncWAL(t *testing.T, f func(*os.File) error) {
	t.Helper()
	prev := syncWAL
	syncWAL = f
	t.Cleanup(func() { syncWAL = prev })
}

func basicWrite(id string) store.Write {
	return store.Write{Op: store.OpCreate, Type: "Basic", ID: id, Version: 1,
		LastUpdated: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Body: []byte(`{}`)}
}

// TestWriteWaitsForWALSync: with Sync "full", Write returns only after the WAL file holding
// the write has been fsynced, and the writer meanwhile goes on committing other calls.
func TestWriteWaitsForWALSync(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var synced []string
	stubSyncWAL(t, func(f *os.File) error {
		<-release
		mu.Lock()
		synced = append(synced, f.Name())
		mu.Unlock()
		return fdatasync(f)
	})
	s, err := Open(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	first := make(chan error, 1)
	go func() { first <- s.Write(t.Context(), basicWrite("a")) }()
	// The write is committed (readable) but not acknowledged while its fsync is held.
	waitFor(t, func() bool { _, err := s.Read(t.Context(), "Basic", "a"); return err == nil })
	second := make(chan error, 1)
	go func() { second <- s.Write(t.Context(), basicWrite("b")) }()
	// The writer is not blocked by the pending fsync: the second call commits too.
	waitFor(t, func() bool { _, err := s.Read(t.Context(), "Basic", "b"); return err == nil })
	select {
	case err := <-first:
		t.Fatalf("Write returned (%v) before the WAL was synced", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	for i, ch := range []chan error{first, second} {
		if err := <-ch; err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(synced) == 0 || !strings.HasSuffix(synced[0], DatabaseFile+"-wal") {
		t.Errorf("synced files %v, want the database's -wal", synced)
	}
}

// TestFailedWALSyncRefusesWrites: a failed fsync answers the calls it covered with an error
// and the store refuses every later write (a later fsync that succeeds proves nothing once
// the kernel may have dropped pages it could not write); reads go on.
func TestFailedWALSyncRefusesWrites(t *testing.T) {
	eio := errors.New("input/output error")
	stubSyncWAL(t, func(*os.File) error { return eio })
	s, err := Open(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Write(t.Context(), basicWrite("a")); !errors.Is(err, eio) {
		t.Fatalf("write whose fsync failed: err %v, want %v", err, eio)
	}
	stubSyncWAL(t, fdatasync)
	if err := s.Write(t.Context(), basicWrite("b")); !errors.Is(err, eio) {
		t.Fatalf("write after a failed fsync: err %v, want the fsync's error", err)
	}
	if _, err := s.Read(t.Context(), "Basic", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused write is readable: %v", err)
	}
	if _, err := s.Read(t.Context(), "Basic", "a"); err != nil {
		t.Errorf("read after a failed fsync: %v", err)
	}
}

// TestStrictAndNormalSyncDoNotUseTheSyncer: "strict" leaves the fsync to SQLite's COMMIT and
// "normal" does none; neither goes through the store's syncer.
func TestStrictAndNormalSyncDoNotUseTheSyncer(t *testing.T) {
	stubSyncWAL(t, func(*os.File) error { return errors.New("the syncer ran") })
	for _, mode := range []string{"strict", "normal"} {
		s, err := Open(t.Context(), Config{Dir: t.TempDir(), Sync: mode})
		if err != nil {
			t.Fatalf("Open %s: %v", mode, err)
		}
		if err := s.Write(t.Context(), basicWrite("a")); err != nil {
			t.Errorf("%s: %v", mode, err)
		}
		var level int
		if err := s.w.conn.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&level); err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"strict": 2, "normal": 1}[mode]; level != want {
			t.Errorf("%s: writer's synchronous = %d, want %d", mode, level, want)
		}
		s.Close()
	}
}
