package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"

	"github.com/portico-health/portico/store/sqlite"
)

// rawReader is the combined ceiling's database side: the raw SQLite point read of the store's
// schema (the current body by type and id, through the resources table's primary key and the
// versions rowid, the query Store.Read runs), on Portico's own database file, with the read
// pool Portico opens (GOMAXPROCS connections, query_only, 32 MiB cache each) and the driver
// linked into Portico. store/sqlite keeps its raw helper unexported, so this is the same SQL
// written here.
type rawReader struct {
	db   *sql.DB
	stmt *sql.Stmt
}

const rawReadSQL = `SELECT v.body FROM resources r JOIN versions v ON v.seq = r.seq WHERE r.type = ? AND r.id = ?`

var rawReaderPragmas = []string{
	"PRAGMA busy_timeout = 5000",
	"PRAGMA query_only = 1",
	"PRAGMA cache_size = -32768",
}

func openRawReader(ctx context.Context, path string) (*rawReader, error) {
	name := "sqlite" // modernc.org/sqlite's registered name
	if sqlite.DriverName == "github.com/mattn/go-sqlite3" {
		name = "sqlite3"
	}
	probe, err := sql.Open(name, "")
	if err != nil {
		return nil, fmt.Errorf("raw reader: driver %s: %w", sqlite.DriverName, err)
	}
	drv := probe.Driver()
	_ = probe.Close() // never connected
	db := sql.OpenDB(&pragmaConnector{drv: drv, path: path})
	n := runtime.GOMAXPROCS(0)
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	stmt, err := db.PrepareContext(ctx, rawReadSQL)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("raw reader: %w", err), db.Close())
	}
	return &rawReader{db: db, stmt: stmt}, nil
}

// body returns the current body of typ/id; sql.ErrNoRows when there is none.
func (r *rawReader) body(ctx context.Context, typ, id string) ([]byte, error) {
	var b []byte
	err := r.stmt.QueryRowContext(ctx, typ, id).Scan(&b)
	return b, err
}

func (r *rawReader) close() error { return errors.Join(r.stmt.Close(), r.db.Close()) }

// pragmaConnector opens connections to one file and runs rawReaderPragmas on each.
type pragmaConnector struct {
	drv  driver.Driver
	path string
}

func (c *pragmaConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.path)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("raw reader: the driver cannot execute statements directly")
	}
	for _, p := range rawReaderPragmas {
		if _, err := ex.ExecContext(ctx, p, nil); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("raw reader: %s: %w", p, err)
		}
	}
	return conn, nil
}

func (c *pragmaConnector) Driver() driver.Driver { return c.drv }
