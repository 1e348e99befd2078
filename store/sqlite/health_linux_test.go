package sqlite

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestCheckWriteFailsWhenWritesFail: with the process's file size limit (RLIMIT_FSIZE) lowered
// to one byte, every write SQLite makes into its files fails as on a full disk (EFBIG instead
// of ENOSPC); the write check then fails as the writes do, and passes again once the limit is
// back, with the data intact. A client's write fails as unavailable (503), not as a 500. The limit is the whole process's: the test must not run in
// parallel with others.
func TestCheckWriteFailsWhenWritesFail(t *testing.T) {
	s, err := Open(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	putPatient(t, s, "p1")
	if err := s.CheckWrite(t.Context()); err != nil {
		t.Fatal(err)
	}

	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	restore := func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
			t.Fatal(err)
		}
	}
	low := limit
	low.Cur = 1
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &low); err != nil {
		t.Fatal(err)
	}
	checkErr := s.CheckWrite(t.Context())
	putErr := s.Write(t.Context(), store.Write{Op: store.OpCreate, Type: "Patient", ID: "p2", Version: 1,
		LastUpdated: time.Now(), Body: []byte(`{"resourceType":"Patient"}`)})
	restore()
	if !errors.Is(checkErr, store.ErrUnavailable) {
		t.Errorf("CheckWrite while no file can grow: %v; want an error wrapping ErrUnavailable", checkErr)
	}
	if !errors.Is(putErr, store.ErrUnavailable) {
		t.Errorf("a write while no file could grow: %v; want an error wrapping ErrUnavailable (503, not 500)", putErr)
	}
	if err := s.CheckWrite(t.Context()); err != nil {
		t.Errorf("CheckWrite after the limit was lifted: %v", err)
	}
	putPatient(t, s, "p3")
	if _, err := s.Read(t.Context(), "Patient", "p1"); err != nil {
		t.Error(err)
	}
}
