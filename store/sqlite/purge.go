package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Purge implements store.Store: the resource's versions, its current pointer and its index rows
// go in one transaction of the writer. SQLite's secure_delete is on for these statements, so
// that the freed pages are zeroed rather than left holding the purged bodies; what the WAL still
// holds of them is overwritten as the WAL is reused after checkpoints.
func (s *Store) Purge(ctx context.Context, typ, id string) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: purge not applied: %w", err)
	}
	if typ == "" || id == "" {
		return fmt.Errorf("%w: purge needs a type and an id", errInvalidWrite)
	}
	purge := func(ctx context.Context) error { return s.w.purge(ctx, typ, id) }
	return s.w.enqueue(ctx, &request{ctx: ctx, op: purge, done: make(chan error, 1)})
}

// purge deletes typ/id with all its rows. Any error may have left part of it deleted: the
// caller rolls back (errModified, as for a write).
func (w *writer) purge(ctx context.Context, typ, id string) (err error) {
	defer func() {
		if err != nil {
			err = errModified{fmt.Errorf("sqlite: purge %s/%s: %w", typ, id, err)}
		}
	}()
	if _, err := w.conn.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
		return err
	}
	defer func() {
		if _, serr := w.conn.ExecContext(ctx, "PRAGMA secure_delete = OFF"); serr != nil && err == nil {
			err = serr
		}
	}()
	var rid int64
	switch err := w.conn.QueryRowContext(ctx, `SELECT rid FROM resources WHERE type = ? AND id = ?`, typ, id).Scan(&rid); {
	case errors.Is(err, sql.ErrNoRows):
		return nil // never written, or purged already
	case err != nil:
		return err
	}
	for _, stmt := range w.stmts.deleteIndex {
		if _, err := stmt.ExecContext(ctx, rid); err != nil {
			return err
		}
	}
	if _, err := w.conn.ExecContext(ctx, `DELETE FROM resources WHERE rid = ?`, rid); err != nil {
		return err
	}
	_, err = w.conn.ExecContext(ctx, `DELETE FROM versions WHERE type = ? AND id = ?`, typ, id)
	return err
}
