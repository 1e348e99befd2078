package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// rawDB runs the store's schema with plain SQL and none of Portico's logic: no version
// preconditions, no writer goroutine, no group commit, no search compilation. It measures the
// physical ceiling (Ceiling and the driver benchmark); it is not a second way to store data.
type rawDB struct {
	write, read                                          *sql.DB
	insertVersion, insertResource, insertToken, readBody *sql.Stmt
}

// openRaw creates the schema in a new database in dir, configured as Open configures it.
func openRaw(ctx context.Context, dir, sync string, readConns int) (*rawDB, error) {
	path := filepath.Join(dir, DatabaseFile)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("sqlite: %s exists: the ceiling is measured on a new database", path)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: data directory: %w", err)
	}
	r := &rawDB{write: openPool(path, writerPragmas(sync), 1)}
	if err := migrate(ctx, r.write); err != nil {
		return nil, errors.Join(err, r.write.Close())
	}
	r.read = openPool(path, readerPragmas, readConns)
	for _, p := range []struct {
		db   *sql.DB
		stmt **sql.Stmt
		sql  string
	}{
		{r.write, &r.insertVersion, `INSERT INTO versions (type, id, version, last_updated, op, body) VALUES (?, ?, 1, 0, 1, ?)`},
		{r.write, &r.insertResource, `INSERT INTO resources (type, id, version, seq, deleted) VALUES (?, ?, 1, ?, 0)`},
		{r.write, &r.insertToken, `INSERT INTO tokens (type, id, param, system, code) VALUES (?, ?, 'raw', 'urn:raw', ?)`},
		{r.read, &r.readBody, `SELECT v.body FROM resources r JOIN versions v ON v.seq = r.seq WHERE r.type = ? AND r.id = ?`},
	} {
		stmt, err := p.db.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite: prepare %q: %w", p.sql, err), r.close())
		}
		*p.stmt = stmt
	}
	return r, nil
}

// insert stores ids (new resources of type typ, each with body and tokens index rows) in one
// transaction: one commit per call, so a call with one id measures a single-resource commit.
func (r *rawDB) insert(ctx context.Context, typ string, ids []string, body []byte, tokens int) error {
	tx, err := r.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: raw begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	insV, upsR, insT := tx.StmtContext(ctx, r.insertVersion), tx.StmtContext(ctx, r.insertResource), tx.StmtContext(ctx, r.insertToken)
	for _, id := range ids {
		res, err := insV.ExecContext(ctx, typ, id, body)
		if err != nil {
			return fmt.Errorf("sqlite: raw insert: %w", err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("sqlite: raw insert: %w", err)
		}
		if _, err := upsR.ExecContext(ctx, typ, id, seq); err != nil {
			return fmt.Errorf("sqlite: raw insert: %w", err)
		}
		for k := range tokens {
			if _, err := insT.ExecContext(ctx, typ, id, fmt.Sprintf("%s-%d", id, k)); err != nil {
				return fmt.Errorf("sqlite: raw insert: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: raw commit: %w", err)
	}
	return nil
}

// body reads the current body of a resource, as Store.Read does, without building a Record.
func (r *rawDB) body(ctx context.Context, typ, id string) ([]byte, error) {
	var b []byte
	if err := r.readBody.QueryRowContext(ctx, typ, id).Scan(&b); err != nil {
		return nil, fmt.Errorf("sqlite: raw read %s/%s: %w", typ, id, err)
	}
	return b, nil
}

func (r *rawDB) close() error {
	var errs []error
	for _, db := range []*sql.DB{r.read, r.write} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}
