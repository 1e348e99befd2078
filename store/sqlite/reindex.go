package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/portico-health/portico/store"
)

// Reindex implements store.Reindexer: the resource's index rows are replaced in one call of the
// writer, if its current version is still version.
func (s *Store) Reindex(ctx context.Context, typ, id string, version int64, index []store.IndexEntry) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: reindex not applied: %w", err)
	}
	op := func(ctx context.Context) error { return s.w.reindex(ctx, typ, id, version, index) }
	return s.w.enqueue(ctx, &request{ctx: ctx, op: op, done: make(chan error, 1)})
}

func (w *writer) reindex(ctx context.Context, typ, id string, version int64, index []store.IndexEntry) (err error) {
	var rid, current int64
	var deleted bool
	err = w.conn.QueryRowContext(ctx, `SELECT rid, version, deleted FROM resources WHERE type = ? AND id = ?`, typ, id).
		Scan(&rid, &current, &deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: reindex %s/%s: purged: %w", typ, id, store.ErrVersionConflict)
	case err != nil:
		return fmt.Errorf("sqlite: reindex %s/%s: %w", typ, id, err)
	case current != version || deleted:
		return fmt.Errorf("sqlite: reindex %s/%s: version %d is no longer current: %w", typ, id, version, store.ErrVersionConflict)
	}
	defer func() {
		if err != nil {
			err = errModified{fmt.Errorf("sqlite: reindex %s/%s: %w", typ, id, err)}
		}
	}()
	for _, stmt := range w.stmts.deleteIndex {
		if _, err := stmt.ExecContext(ctx, rid); err != nil {
			return err
		}
	}
	return w.insertIndex(ctx, rid, &store.Write{Type: typ, ID: id, Version: version, Index: index})
}
