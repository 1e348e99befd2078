package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestGroupCommit holds SQLite's write lock from another connection so that calls pile up
// behind the writer, then checks that the batch they form keeps each call's outcome apart:
// a call cancelled while queued is skipped, a failing call is rolled back to its savepoint,
// and the others commit.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	lock := holdWriteLock(t, dir)

	lu := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id string, version int64) store.Write {
		return store.Write{Op: store.OpUpdate, Type: "Basic", ID: id, Version: version, LastUpdated: lu, Body: []byte(`{}`)}
	}
	cancelled, cancel := context.WithCancel(t.Context())
	calls := []struct {
		name   string
		ctx    context.Context
		writes []store.Write
		want   error
	}{
		{"blocked first", t.Context(), []store.Write{mk("a", 1)}, nil},
		{"cancelled while queued", cancelled, []store.Write{mk("b", 1)}, context.Canceled},
		{"failing", t.Context(), []store.Write{mk("c", 1), mk("c", 3)}, store.ErrVersionConflict},
		{"succeeding", t.Context(), []store.Write{mk("d", 1), mk("d", 2)}, nil},
	}
	results := make([]chan error, len(calls))
	for i, c := range calls {
		results[i] = make(chan error, 1)
		go func() { results[i] <- s.Write(c.ctx, c.writes...) }()
		if i == 0 {
			time.Sleep(50 * time.Millisecond) // let the writer take it and block on the lock
		}
		waitFor(t, func() bool { return len(s.w.queue) == i })
	}
	cancel()
	if _, err := lock.ExecContext(t.Context(), "COMMIT"); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}

	for i, c := range calls {
		if err := <-results[i]; !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	for id, want := range map[string]error{"a": nil, "b": store.ErrNotFound, "c": store.ErrNotFound, "d": nil} {
		if _, err := s.Read(t.Context(), "Basic", id); !errors.Is(err, want) {
			t.Errorf("Read(Basic/%s): err %v, want %v", id, err, want)
		}
	}
}

// TestGroupCommitRetriesWithSavepoints: calls of independent writes run without a savepoint;
// when one fails after it began modifying, the batch is rolled back and applied again with
// savepoints, so that only that call fails and nothing of it remains, and a call refused by a
// precondition of its second write has written nothing of its first.
func TestGroupCommitRetriesWithSavepoints(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	errDisk := errors.New("simulated failure after the first modification")
	failAfterModify = func(w *store.Write) error {
		if w.ID == "broken" {
			return errDisk
		}
		return nil
	}
	defer func() { failAfterModify = nil }()

	lock := holdWriteLock(t, dir)
	lu := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id string, version int64) store.Write {
		return store.Write{Op: store.OpUpdate, Type: "Basic", ID: id, Version: version, LastUpdated: lu,
			Body: []byte(`{}`), Index: []store.IndexEntry{{Param: "code", Kind: store.KindToken, Code: id, SortKey: id}}}
	}
	calls := []struct {
		name   string
		writes []store.Write
		want   error
	}{
		{"blocked first", []store.Write{mk("a", 1)}, nil},
		{"before", []store.Write{mk("b", 1)}, nil},
		{"fails after modifying", []store.Write{mk("broken", 1)}, errDisk},
		{"version conflict", []store.Write{mk("c", 2)}, store.ErrVersionConflict},
		{"two writes, the second fails after modifying", []store.Write{mk("e", 1), mk("broken", 1)}, errDisk},
		{"two writes, the second in conflict", []store.Write{mk("g", 1), mk("h", 5)}, store.ErrVersionConflict},
		{"two writes", []store.Write{mk("i", 1), mk("j", 1)}, nil},
		{"after", []store.Write{mk("d", 1)}, nil},
	}
	results := make([]chan error, len(calls))
	for i, c := range calls {
		results[i] = make(chan error, 1)
		go func() { results[i] <- s.Write(t.Context(), c.writes...) }()
		if i == 0 {
			time.Sleep(50 * time.Millisecond)
		}
		waitFor(t, func() bool { return len(s.w.queue) == i })
	}
	if _, err := lock.ExecContext(t.Context(), "COMMIT"); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	for i, c := range calls {
		if err := <-results[i]; !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	for id, want := range map[string]error{"a": nil, "b": nil, "broken": store.ErrNotFound, "c": store.ErrNotFound, "d": nil,
		"e": store.ErrNotFound, "g": store.ErrNotFound, "h": store.ErrNotFound, "i": nil, "j": nil} {
		if _, err := s.Read(t.Context(), "Basic", id); !errors.Is(err, want) {
			t.Errorf("Read(Basic/%s): err %v, want %v", id, err, want)
		}
	}
	page, err := s.Search(t.Context(), store.Query{Types: []string{"Basic"}, Count: 10,
		Where: []store.Clause{{Param: "code", Kind: store.KindToken, Values: []store.Value{{Code: "broken", AnySystem: true}}}}})
	if err != nil || len(page.Records) != 0 {
		t.Errorf("the failed write left index rows: %d matches, err %v", len(page.Records), err)
	}
}

// holdWriteLock takes SQLite's write lock on the database in dir from another connection, so
// that Write calls pile up behind the writer; COMMIT on the returned connection releases it.
func holdWriteLock(t *testing.T, dir string) *sql.Conn {
	t.Helper()
	locker := openPool(filepath.Join(dir, DatabaseFile), []string{busyTimeout}, 1)
	t.Cleanup(func() { _ = locker.Close() })
	lock, err := locker.Conn(t.Context())
	if err != nil {
		t.Fatalf("Conn: %v", err)
	}
	t.Cleanup(func() { _ = lock.Close() })
	if _, err := lock.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("BEGIN IMMEDIATE: %v", err)
	}
	return lock
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
	}
}
