package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// RawReader reads current bodies from a store's database with the SQL Store.Read runs (the
// resources_by_id index, the resources row, then the versions rowid) on a read pool configured as the store's,
// and none of the store's logic: no Record, no tombstone check, no error mapping. It is the
// database half of a load tool's ceiling, measured on Portico's own data; it may run beside an
// open Store on the same directory.
type RawReader struct {
	db   *sql.DB
	body *sql.Stmt
}

const rawBodySQL = `SELECT body FROM versions WHERE type = ? AND id = ? ORDER BY version DESC LIMIT 1`

// OpenRawReader opens a pool of conns read-only connections (0: GOMAXPROCS, as the store's
// default) to the database of an existing store in dir.
func OpenRawReader(ctx context.Context, dir string, conns int) (*RawReader, error) {
	path := filepath.Join(dir, DatabaseFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: raw reader: %w", err)
	}
	if conns <= 0 {
		conns = runtime.GOMAXPROCS(0)
	}
	db := openPool(path, readerPragmas, conns)
	stmt, err := db.PrepareContext(ctx, rawBodySQL)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: raw reader: %w", err), db.Close())
	}
	return &RawReader{db: db, body: stmt}, nil
}

// Body returns the current body of typ/id: nil for a tombstone, sql.ErrNoRows (wrapped) for a
// resource that does not exist.
func (r *RawReader) Body(ctx context.Context, typ, id string) ([]byte, error) {
	var b []byte
	if err := r.body.QueryRowContext(ctx, typ, id).Scan(&b); err != nil {
		return nil, fmt.Errorf("sqlite: raw read %s/%s: %w", typ, id, err)
	}
	return b, nil
}

// Close closes the pool.
func (r *RawReader) Close() error { return r.db.Close() }

// rawDB adds raw inserts to a RawReader, on a new database: no version preconditions, no
// writer goroutine, no group commit. Ceiling and the driver benchmark measure with it; it is
// not a second way to store data.
type rawDB struct {
	*RawReader
	write                                      *sql.DB
	insertVersion, insertResource, insertToken *sql.Stmt
}

// openRaw creates the schema in a new database in dir, configured as Open configures it.
func openRaw(ctx context.Context, dir, sync string, readConns int) (*rawDB, error) {
	path := filepath.Join(dir, DatabaseFile)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("sqlite: %s exists: the ceiling is measured on a new database", path)
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("sqlite: data directory: %w", err)
	}
	wdb, err := openWriter(path, writerPragmas(sqliteSynchronous(sync, false), false))
	if err != nil {
		return nil, err
	}
	r := &rawDB{write: wdb}
	if err := migrate(ctx, r.write); err != nil {
		return nil, errors.Join(err, r.write.Close())
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&r.insertVersion, `INSERT INTO versions (type, id, version, last_updated, op, body) VALUES (?, ?, 1, 0, 1, ?)`},
		{&r.insertResource, `INSERT INTO resources (type, id, version, seq, deleted, last_updated) VALUES (?, ?, 1, ?, 0, 0)`},
		{&r.insertToken, `INSERT INTO tokens (rid, type, param, system, code, text) VALUES (?, ?, 'raw', 'urn:raw', ?, '')`},
	} {
		stmt, err := r.write.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite: prepare %q: %w", p.sql, err), r.write.Close())
		}
		*p.stmt = stmt
	}
	reader, err := OpenRawReader(ctx, dir, readConns)
	if err != nil {
		return nil, errors.Join(err, r.write.Close())
	}
	r.RawReader = reader
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
	insV, insR, insT := tx.StmtContext(ctx, r.insertVersion), tx.StmtContext(ctx, r.insertResource), tx.StmtContext(ctx, r.insertToken)
	for _, id := range ids {
		res, err := insV.ExecContext(ctx, typ, id, body)
		if err != nil {
			return fmt.Errorf("sqlite: raw insert: %w", err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("sqlite: raw insert: %w", err)
		}
		res, err = insR.ExecContext(ctx, typ, id, seq)
		if err != nil {
			return fmt.Errorf("sqlite: raw insert: %w", err)
		}
		rid, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("sqlite: raw insert: %w", err)
		}
		for k := range tokens {
			if _, err := insT.ExecContext(ctx, rid, typ, fmt.Sprintf("%s-%d", id, k)); err != nil {
				return fmt.Errorf("sqlite: raw insert: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: raw commit: %w", err)
	}
	return nil
}

func (r *rawDB) close() error {
	return errors.Join(r.RawReader.Close(), r.write.Close())
}
