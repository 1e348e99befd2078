package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
)

// connector opens driver connections to one database file and prepares each with the same
// PRAGMAs. Setting them here rather than in a DSN keeps the two drivers (whose DSN options
// differ) configured identically.
type connector struct {
	drv     driver.Driver
	path    string
	pragmas []string
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", c.path, err)
	}
	execer, ok := conn.(driver.ExecerContext)
	if !ok {
		_ = conn.Close() // the error below is the one worth reporting
		return nil, fmt.Errorf("sqlite: driver %s cannot execute statements directly", DriverName)
	}
	for _, p := range c.pragmas {
		if _, err := execer.ExecContext(ctx, p, nil); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("sqlite: %s: %w", p, err)
		}
	}
	return conn, nil
}

func (c *connector) Driver() driver.Driver { return c.drv }

// busyTimeout makes every connection wait up to 5 s for a lock instead of failing at once:
// another process (the sqlite3 shell, a backup) may hold one briefly.
const busyTimeout = "PRAGMA busy_timeout = 5000"

// writerPragmas configure the single writing connection. journal_mode=WAL lets readers run
// beside the writer and makes a commit one sequential append; it is a property of the file,
// set before any reader opens. sync is "full" or "normal" (Config.Sync). The 64 MiB page cache
// keeps the upper levels of every index hot for inserts that land on random pages.
func writerPragmas(sync string) []string {
	return []string{
		busyTimeout,
		"PRAGMA journal_mode = WAL",
		"PRAGMA synchronous = " + sync,
		"PRAGMA cache_size = -65536",
	}
}

// readerPragmas configure the read pool: query_only turns any write attempt through a reader
// into an error, so the single-writer rule cannot be broken by accident.
var readerPragmas = []string{
	busyTimeout,
	"PRAGMA query_only = 1",
	"PRAGMA cache_size = -32768",
	"PRAGMA mmap_size = 17179869184",
}

// openPool returns a database/sql pool of at most n connections configured with pragmas.
func openPool(path string, pragmas []string, n int) *sql.DB {
	db := sql.OpenDB(&connector{drv: sqlDriver(), path: path, pragmas: pragmas})
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	return db
}
