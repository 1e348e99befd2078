package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/portico-health/portico/store"
)

var _ store.Store = (*Store)(nil)

// Store is the SQLite backend. It is safe for concurrent use; Close it when done.
type Store struct {
	log      *slog.Logger
	read     *sql.DB // read-only pool of searches and history, Config.ReadConns connections
	overflow *sql.DB // as many again, for searches that wait behind costly ones (lanes.go)
	point    *sql.DB // read-only pool of reads by id (Read, VRead), GOMAXPROCS connections
	w        *writer // owns the only writing connection
	closed   atomic.Bool

	checkpoints *checkpointer // copies the WAL into the database file beside the writer
	quick       *quickCheck   // the start-up integrity check, which CheckWrite reports

	readStmt, vreadStmt *sql.Stmt    // prepared on the point pool
	lanes               *searchPools // the pool each search and history page runs on (lanes.go)
}

// errClosed is returned by every method of a closed Store.
var errClosed = fmt.Errorf("sqlite: store closed: %w", store.ErrUnavailable)

// Open opens (creating if needed) the store in cfg.Dir.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.Dir, DatabaseFile)
	exists, err := prepareFiles(cfg.Dir, path, cfg.Logger)
	if err != nil {
		return nil, err
	}
	mark := false
	if exists {
		if mark, err = identifyFile(ctx, path); err != nil {
			return nil, err
		}
	} else {
		if err := initialise(ctx, path); err != nil {
			return nil, err
		}
		cfg.Logger.Info("sqlite: created a new database", "path", path)
	}

	// The writer opens first: it switches the file to WAL and migrates the schema before any
	// reader connection looks at it.
	wdb, err := openWriter(path, writerPragmas(sqliteSynchronous(cfg.Sync, true), true))
	if err != nil {
		return nil, err
	}
	if err := prepareSchema(ctx, wdb, mark, cfg.Logger); err != nil {
		_ = wdb.Close()
		return nil, err
	}
	syncPath := "" // the store fsyncs the WAL itself only with Sync "full"
	if cfg.Sync == "full" {
		syncPath = path
	}
	w, err := newWriter(ctx, wdb, syncPath, cfg.Logger)
	if err != nil {
		_ = wdb.Close()
		return nil, err
	}
	s := &Store{log: cfg.Logger, read: openPool(path, readerPragmasMmap(cfg.MmapSize), cfg.ReadConns),
		overflow: openPool(path, readerPragmasMmap(cfg.MmapSize), cfg.ReadConns),
		point:    openPool(path, pointReaderPragmas(cfg.MmapSize), runtime.GOMAXPROCS(0)), w: w,
		checkpoints: startCheckpointer(path, cfg.Logger)}
	s.lanes = newSearchPools(s.read, s.overflow, s.point, cfg.ReadConns, cfg.ReadConns)
	if err := s.prepare(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.startQuickCheck(path, cfg.QuickCheck)
	s.log.Info("sqlite store opened", "path", path, "driver", DriverName, "sync", cfg.Sync,
		"read_conns", cfg.ReadConns)
	return s, nil
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	if s.readStmt, err = s.point.PrepareContext(ctx, readSQL); err != nil {
		return fmt.Errorf("sqlite: prepare read: %w", err)
	}
	if s.vreadStmt, err = s.point.PrepareContext(ctx, vreadSQL); err != nil {
		return fmt.Errorf("sqlite: prepare vread: %w", err)
	}
	return nil
}

// readSQL reads the latest version, tombstones included (op tells one), which is the current
// one: one descent of versions_by_resource from its (type, id) end, then the versions rowid.
// (Through resources it was three descents: resources_by_id, the resources row for seq, the
// versions rowid.) docs/store.md, "Point reads".
const readSQL = `SELECT version, last_updated, op, body
	FROM versions WHERE type = ? AND id = ? ORDER BY version DESC LIMIT 1`

const vreadSQL = `SELECT version, last_updated, op, body
	FROM versions WHERE type = ? AND id = ? AND version = ?`

// Read implements store.Store.
func (s *Store) Read(ctx context.Context, typ, id string) (store.Record, error) {
	if s.closed.Load() {
		return store.Record{}, errClosed
	}
	return pointRead(ctx, s.readStmt.QueryRowContext(ctx, typ, id), typ, id, "read")
}

// VRead implements store.Store.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (store.Record, error) {
	if s.closed.Load() {
		return store.Record{}, errClosed
	}
	return pointRead(ctx, s.vreadStmt.QueryRowContext(ctx, typ, id, version), typ, id, "vread")
}

// pointRead scans one version and applies the contract's ErrNotFound and ErrGone.
func pointRead(ctx context.Context, row *sql.Row, typ, id, op string) (store.Record, error) {
	rec := store.Record{Type: typ, ID: id}
	var lu int64
	err := row.Scan(&rec.Version, &lu, &rec.Op, &rec.Body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Record{}, fmt.Errorf("sqlite: %s %s/%s: %w", op, typ, id, store.ErrNotFound)
	case err != nil:
		return store.Record{}, wrap(ctx, op, err)
	}
	rec.LastUpdated = fromNanos(lu)
	if rec.Deleted() {
		return rec, fmt.Errorf("sqlite: %s %s/%s: %w", op, typ, id, store.ErrGone)
	}
	return rec, nil
}

// Write implements store.Store: it checks the writes, then hands them to the writer goroutine
// and waits for the outcome of the transaction they were committed (or refused) in.
func (s *Store) Write(ctx context.Context, writes ...store.Write) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: write not applied: %w", err)
	}
	for i := range writes {
		if err := validate(&writes[i]); err != nil {
			return err
		}
	}
	if len(writes) == 0 {
		return nil
	}
	writes, checked, err := s.precheck(ctx, writes)
	if err != nil {
		return err
	}
	return s.w.submit(ctx, writes, checked)
}

// Capabilities: SQLite applies several writes in one transaction.
func (s *Store) Capabilities() store.Capabilities { return store.Capabilities{Transactions: true} }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := s.point.PingContext(ctx); err != nil { // the pool no client's search can fill
		return fmt.Errorf("sqlite: ping: %w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// Close implements store.Store: queued writes are committed, then both pools are closed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopQuickCheck()
	err := errors.Join(s.checkpoints.close(), s.w.close())
	s.lanes.close()
	if err2 := errors.Join(s.read.Close(), s.overflow.Close(), s.point.Close()); err2 != nil {
		err = errors.Join(err, fmt.Errorf("sqlite: close readers: %w", err2))
	}
	s.log.Info("sqlite store closed")
	return err
}

// wrap adds the operation to a database error and, when the context ended, makes the error
// match the context's error too (drivers report an interrupted statement their own way).
func wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, cerr, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// Instants are stored as Unix nanoseconds: exact, and ordered like the instants themselves.
func toNanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
