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
// set before any reader opens. synchronous is SQLite's setting (FULL or NORMAL; see
// sqliteSynchronous). Measured in
// docs/store.md ("Write cost"):
//
//   - temp_store=MEMORY keeps the statement journals of the per-call SAVEPOINTs in memory: a
//     create modifies ~50 pages, over SQLite's 64 KiB spill threshold, so each savepoint wrote
//     and re-read a temporary file (a third of the writer's syscalls).
//   - wal_autocheckpoint: the store's own writer leaves checkpoints to its checkpointer
//     (checkpoint.go) and checkpoints itself only past 50,000 frames (~200 MiB of WAL), should
//     the checkpointer fall behind; other writers (the ceiling's) at 10,000 frames (~40 MiB)
//     instead of 1,000, so that a checkpoint copies each hot page once for ten times as many
//     commits. journal_size_limit truncates a WAL that a burst made larger.
//   - cache_size 16 MiB (was 64): the upper levels of the indexes stay cached; the leaves an
//     insert lands on are random and come from the OS page cache either way. 64 MiB wrote no
//     faster and cost ~100 MB more anonymous memory (modernc's allocator rounds a cached page
//     up to 8 KiB).
func writerPragmas(synchronous string, backgroundCheckpoints bool) []string {
	autoCheckpoint := "PRAGMA wal_autocheckpoint = 10000"
	if backgroundCheckpoints {
		autoCheckpoint = "PRAGMA wal_autocheckpoint = 50000"
	}
	return []string{
		busyTimeout,
		"PRAGMA journal_mode = WAL",
		"PRAGMA synchronous = " + synchronous,
		"PRAGMA temp_store = MEMORY",
		autoCheckpoint,
		"PRAGMA journal_size_limit = 67108864",
		"PRAGMA cache_size = -16384",
	}
}

// sqliteSynchronous is the writer's SQLite synchronous setting for Config.Sync. With "full"
// the store fsyncs the WAL itself after COMMIT (walsync.go), so SQLite must not; a writer
// without that syncer (pipelined false: the ceiling's) gets SQLite's FULL for it instead.
func sqliteSynchronous(sync string, pipelined bool) string {
	switch {
	case sync == "strict", sync == "full" && !pipelined:
		return "FULL"
	}
	return "NORMAL"
}

// readerPragmas configure the read pool: query_only turns any write attempt through a reader
// into an error, so the single-writer rule cannot be broken by accident. A reader's own cache
// holds the hot upper levels of the indexes (8 MiB); leaves come from the OS page cache with
// pread. The file is not memory-mapped unless Config.MmapSize asks for it: mapped pages count
// as the process's resident memory, once per reader, and at 1,000,000 Observations the
// searches were as fast without (docs/store.md, "Memory").
var readerPragmas = readerPragmasMmap(0)

// readerPragmasMmap is readerPragmas with SQLite's mmap_size set to mmap bytes.
func readerPragmasMmap(mmap int64) []string { return readerPragmasCache(mmap, 8192) }

// pointReaderPragmas configure the pool of reads by id: one descent of one index and a body,
// for which a smaller cache (2 MiB) holds the upper levels of the index.
func pointReaderPragmas(mmap int64) []string { return readerPragmasCache(mmap, 2048) }

func readerPragmasCache(mmap int64, cacheKiB int) []string {
	return []string{
		busyTimeout,
		"PRAGMA query_only = 1",
		fmt.Sprintf("PRAGMA cache_size = -%d", cacheKiB),
		fmt.Sprintf("PRAGMA mmap_size = %d", mmap),
	}
}

// MaxMmapSize is the most SQLite maps of a file, whatever Config.MmapSize asks: the driver's
// SQLite is built with the default SQLITE_MAX_MMAP_SIZE (just under 2 GiB).
const MaxMmapSize = 2147418112

// openWriter returns the pool of the one writing connection to the database at path, which
// writes its WAL through the WAL write buffer where the driver has one (walbuffer_modernc.go).
func openWriter(path string, pragmas []string) (*sql.DB, error) {
	dsn, err := writerDSN(path)
	if err != nil {
		return nil, err
	}
	return openPool(dsn, pragmas, 1), nil
}

// openPool returns a database/sql pool of at most n connections configured with pragmas.
func openPool(path string, pragmas []string, n int) *sql.DB {
	db := sql.OpenDB(&connector{drv: sqlDriver(), path: path, pragmas: pragmas})
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	return db
}
