package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/portico-health/portico/store"
)

// conditionalLimit bounds the matches an ExistsError carries when IfNoneExist sets no Count:
// the api only needs to tell one match (answer with it) from several (412), and more would
// only cost reads inside the write transaction.
const conditionalLimit = 10

const (
	latestSQL       = `SELECT version FROM resources WHERE type = ? AND id = ?`
	deleteTokensSQL = `DELETE FROM tokens WHERE type = ? AND id = ?`
)

// writeStmts are the writer's statements, prepared once on its connection.
type writeStmts struct {
	latest, insertVersion, upsertResource, deleteTokens, insertToken *sql.Stmt
}

func prepareWriteStmts(ctx context.Context, conn *sql.Conn) (*writeStmts, error) {
	s := &writeStmts{}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.latest, latestSQL},
		{&s.insertVersion, `INSERT INTO versions (type, id, version, last_updated, op, body) VALUES (?, ?, ?, ?, ?, ?)`},
		{&s.upsertResource, `INSERT INTO resources (type, id, version, seq, deleted) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, seq = excluded.seq, deleted = excluded.deleted`},
		{&s.deleteTokens, deleteTokensSQL},
		// OR IGNORE: an extractor may emit the same token twice for one resource.
		{&s.insertToken, `INSERT OR IGNORE INTO tokens (type, id, param, system, code) VALUES (?, ?, ?, ?, ?)`},
	} {
		stmt, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	return s, nil
}

func (s *writeStmts) close() {
	for _, stmt := range []*sql.Stmt{s.latest, s.insertVersion, s.upsertResource, s.deleteTokens, s.insertToken} {
		if stmt != nil {
			_ = stmt.Close() // closing the connection next releases them anyway
		}
	}
}

// apply checks one write's preconditions and stores it, inside the caller's savepoint.
func (w *writer) apply(ctx context.Context, wr *store.Write) error {
	if wr.IfNoneExist != nil {
		q := *wr.IfNoneExist
		if q.Count <= 0 {
			q.Count = conditionalLimit
		}
		q.Cursor, q.Total = "", false
		page, err := search(ctx, w.conn, q)
		if err != nil {
			return fmt.Errorf("sqlite: conditional create of %s/%s: %w", wr.Type, wr.ID, err)
		}
		if len(page.Records) > 0 {
			return fmt.Errorf("sqlite: conditional create of %s/%s: %w", wr.Type, wr.ID,
				&store.ExistsError{Matches: page.Records})
		}
	}

	var latest int64 // 0: the resource never existed
	err := w.stmts.latest.QueryRowContext(ctx, wr.Type, wr.ID).Scan(&latest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: latest version of %s/%s: %w", wr.Type, wr.ID, err)
	}
	if latest != wr.Version-1 {
		return fmt.Errorf("sqlite: %s/%s: writing version %d over version %d: %w",
			wr.Type, wr.ID, wr.Version, latest, store.ErrVersionConflict)
	}

	var body any // NULL for a tombstone, whatever a nil []byte would bind as
	deleted := wr.Op == store.OpDelete
	if !deleted {
		body = wr.Body
	}
	res, err := w.stmts.insertVersion.ExecContext(ctx, wr.Type, wr.ID, wr.Version, toNanos(wr.LastUpdated), wr.Op, body)
	if err != nil {
		return fmt.Errorf("sqlite: insert %s/%s/_history/%d: %w", wr.Type, wr.ID, wr.Version, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: sequence of %s/%s: %w", wr.Type, wr.ID, err)
	}
	if _, err := w.stmts.upsertResource.ExecContext(ctx, wr.Type, wr.ID, wr.Version, seq, deleted); err != nil {
		return fmt.Errorf("sqlite: current version of %s/%s: %w", wr.Type, wr.ID, err)
	}
	if latest > 0 { // the previous version's entries stop matching
		if _, err := w.stmts.deleteTokens.ExecContext(ctx, wr.Type, wr.ID); err != nil {
			return fmt.Errorf("sqlite: index of %s/%s: %w", wr.Type, wr.ID, err)
		}
	}
	for _, e := range wr.Index {
		if _, err := w.stmts.insertToken.ExecContext(ctx, wr.Type, wr.ID, e.Param, e.System, e.Code); err != nil {
			return fmt.Errorf("sqlite: index of %s/%s: %w", wr.Type, wr.ID, err)
		}
	}
	return nil
}
