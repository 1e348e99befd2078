package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-health/portico/store"
)

var _ store.WriteChecker = (*Store)(nil)

// errQuickCheckRunning fails a CheckWrite whose context ended before the start-up integrity
// check did.
var errQuickCheckRunning = fmt.Errorf("sqlite: the start-up integrity check (quick_check) is running: %w", store.ErrUnavailable)

// quickCheck is the state of the integrity check Open starts.
type quickCheck struct {
	result atomic.Pointer[error] // once done is closed: nil (sound) or the damage found
	cancel context.CancelFunc
	done   chan struct{}
}

// startQuickCheck runs PRAGMA quick_check on a connection of its own for at most limit (0: no
// check). quick_check reads every page and checks the b-trees' structure, but not that the
// indexes match their tables: O(pages). It reports only once it has read everything, so a
// check stopped at its limit found nothing either way, and the store counts as sound.
func (s *Store) startQuickCheck(path string, limit time.Duration) {
	qc := &quickCheck{done: make(chan struct{})}
	s.quick = qc
	if limit == 0 {
		var ok error
		qc.result.Store(&ok)
		close(qc.done)
		return
	}
	var ctx context.Context
	ctx, qc.cancel = context.WithTimeout(context.Background(), limit)
	go func() {
		defer close(qc.done)
		defer qc.cancel()
		start := time.Now()
		err := runQuickCheck(ctx, path)
		switch {
		case err == nil:
			s.log.Info("sqlite: the start-up integrity check found no damage", "took_ms", time.Since(start).Milliseconds())
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			s.log.Warn("sqlite: the start-up integrity check was stopped at its time limit before it finished, so it says nothing of the database; a longer --sqlite-quick-check lets it finish",
				"limit", limit.String())
			err = nil
		case ctx.Err() != nil:
			err = errClosed // the store closed during the check
		default:
			s.log.Error("sqlite: THE DATABASE IS DAMAGED: the start-up integrity check failed; /readyz answers 503. Stop Portico and restore a backup (docs/operations.md, \"Backup and restore\")",
				"path", path, "error", err.Error())
		}
		qc.result.Store(&err)
	}()
}

// runQuickCheck returns nil when quick_check answers "ok", else the problems it lists (at most
// ten).
func runQuickCheck(ctx context.Context, path string) error {
	db := openPool(path, readerPragmas, 1)
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(10)")
	if err != nil {
		return wrap(ctx, "quick_check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return wrap(ctx, "quick_check", err)
		}
		if line != "ok" {
			problems = append(problems, strings.ReplaceAll(line, "\n", "; "))
		}
	}
	if err := rows.Err(); err != nil {
		return wrap(ctx, "quick_check", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: quick_check: %s: %w", strings.Join(problems, "; "), store.ErrUnavailable)
	}
	return nil
}

// stopQuickCheck ends a running check and waits for it.
func (s *Store) stopQuickCheck() {
	if s.quick == nil {
		return
	}
	if s.quick.cancel != nil {
		s.quick.cancel()
	}
	<-s.quick.done
}

// CheckWrite implements store.WriteChecker: it commits a one-row update of the write_check
// table through the writer, as a client's write is committed (in a batch with others, with
// the WAL fsynced after it under Sync "full"), so it fails when writes fail: a read-only or
// full file system, an I/O error, a failed fsync. It first waits (as long as ctx allows) for
// the start-up integrity check, and fails when that found damage.
func (s *Store) CheckWrite(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	select {
	case <-s.quick.done:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", errQuickCheckRunning, ctx.Err())
	}
	if err := *s.quick.result.Load(); err != nil {
		return err
	}
	err := s.w.enqueue(ctx, &request{ctx: ctx, op: s.w.writeCheck, done: make(chan error, 1)})
	if err != nil && !errors.Is(err, store.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// writeCheckSQL rewrites the write check's one row.
const writeCheckSQL = `INSERT INTO write_check (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`

func (w *writer) writeCheck(ctx context.Context) error {
	if _, err := w.conn.ExecContext(ctx, writeCheckSQL, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("sqlite: write check: %w", err)
	}
	return nil
}

// SQLite's primary result codes of a store that cannot write at all.
const (
	codeReadOnly = 8  // SQLITE_READONLY
	codeIOErr    = 10 // SQLITE_IOERR: a read, write or fsync failed (EIO, EFBIG...)
	codeFull     = 13 // SQLITE_FULL: the file system is full
	codeCantOpen = 14 // SQLITE_CANTOPEN
)

// unavailable marks the error of a write that failed because the store cannot write at all
// (a full or read-only file system, an I/O error) as store.ErrUnavailable: the client gets 503,
// as /readyz does, rather than a 500 that would say the request was at fault.
func unavailable(err error) error {
	switch errorCode(err) {
	case codeReadOnly, codeIOErr, codeFull, codeCantOpen:
		if !errors.Is(err, store.ErrUnavailable) {
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
	}
	return err
}
