package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// applicationID is the SQLite header's application_id of a Portico database ("PRTC"): Open
// refuses a file that carries another application's id, and a file without Portico's tables.
// Databases of older Portico versions have 0 and Portico's tables; Open marks them.
const applicationID = 0x50525443

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// ErrNotPortico is wrapped by Open's error when the data directory holds a file that is not a
// Portico database (empty, not SQLite, or another application's SQLite database): Open stops
// rather than initialise a new store over it.
var ErrNotPortico = errors.New("not a Portico database")

// prepareFiles checks the data directory and the database files before SQLite opens them, so
// that what it cannot write is reported with its path (SQLite says only "unable to open
// database file"), and a file that is not Portico's is refused before SQLite initialises over
// it. It creates dir (0700) when missing and restricts the permissions of existing files.
// exists reports whether the database file was there: false means a new store.
func prepareFiles(dir, path string, log *slog.Logger) (exists bool, err error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return false, fmt.Errorf("sqlite: data directory: %w", err)
	}
	// SQLite creates the -wal and -shm files beside the database when it opens it.
	probe, err := os.CreateTemp(dir, ".portico-write-check-*")
	if err != nil {
		return false, fmt.Errorf("sqlite: the data directory %s is not writable (SQLite creates its -wal and -shm files there): %w", dir, err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())

	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A WAL without its database is what is left when the file was deleted or moved: a new
		// database beside it would have the old WAL's pages replayed into it.
		if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
			return false, fmt.Errorf("sqlite: %s-wal exists but %s does not: the database file was deleted or moved; put it back, or remove %s-wal and %s-shm to start an empty store: %w",
				path, path, path, path, ErrNotPortico)
		}
		for _, p := range []string{path + "-wal", path + "-shm"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, fmt.Errorf("sqlite: %w", err)
			}
		}
		if err := tighten(dir, log); err != nil {
			return false, err
		}
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: database file: %w", err)
	case !st.Mode().IsRegular():
		return false, fmt.Errorf("sqlite: %s is not a regular file: %w", path, ErrNotPortico)
	}
	if err := checkHeader(path, st.Size()); err != nil {
		return true, err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return true, fmt.Errorf("sqlite: a database file is not writable: %w", err)
		}
		_ = f.Close()
	}
	for _, p := range []string{dir, path, path + "-wal", path + "-shm"} {
		if err := tighten(p, log); err != nil {
			return true, err
		}
	}
	return true, nil
}

// checkHeader refuses a database file that is empty (unless its WAL holds the database, as
// after a crash before the first checkpoint) or does not start as SQLite files do.
func checkHeader(path string, size int64) error {
	if size == 0 {
		if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
			return nil // SQLite recovers the database from its WAL
		}
		return fmt.Errorf("sqlite: %s is empty (0 bytes): the database file was truncated or replaced, and Portico does not initialise a new store over it; restore a backup (docs/operations.md, \"Backup and restore\"), or delete the file to start an empty store: %w",
			path, ErrNotPortico)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sqlite: database file: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("sqlite: database file: %w", err)
	}
	if !bytes.Equal(head, sqliteMagic) {
		return fmt.Errorf("sqlite: %s is not a SQLite database (%d bytes that do not start with SQLite's header): Portico does not initialise a new store over it; point --data-dir at Portico's data directory, or at a new one: %w",
			path, size, ErrNotPortico)
	}
	return nil
}

// identify checks that an existing database is Portico's: its application_id, or, for the
// files of Portico versions before the id, its tables. mark reports such an older file, to be
// given the id.
func identify(ctx context.Context, db *sql.DB, path string) (mark bool, err error) {
	var app, version, tables int
	if err := db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return false, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('versions', 'resources')`).Scan(&tables); err != nil {
		return false, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	switch {
	case app == applicationID:
		return false, nil
	case app != 0:
		return false, fmt.Errorf("sqlite: %s is another application's SQLite database (application_id %#x): %w", path, uint32(app), ErrNotPortico)
	case version > 0 && tables == 2:
		return true, nil
	}
	return false, fmt.Errorf("sqlite: %s is a SQLite database without Portico's tables: Portico does not initialise a new store over it; point --data-dir at Portico's data directory, or at a new one: %w",
		path, ErrNotPortico)
}

// initialise creates a new database at path: the schema is written into a file beside it,
// which is renamed to path once complete, so that a crash during the first start leaves no
// half-made database that a later start would refuse, or take for a store.
func initialise(ctx context.Context, path string) error {
	tmp := path + ".new"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	// Created 0600 here, so that SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return fmt.Errorf("sqlite: create the database: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: create the database: %w", err)
	}
	db, err := openWriter(tmp, writerPragmas("FULL", false))
	if err != nil {
		return err
	}
	err = migrate(ctx, db)
	// Closing the last connection checkpoints the WAL into the file and removes it.
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sqlite: create the database: %w", cerr)
	}
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncFile(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sqlite: create the database: %w", err)
	}
	return nil
}

// syncFile fsyncs a file or a directory (after a rename in it).
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// identifyFile runs identify on a connection of its own that cannot write, so that nothing,
// not even the switch to WAL, touches a file that turns out not to be Portico's.
func identifyFile(ctx context.Context, path string) (mark bool, err error) {
	db := openPool(path, []string{busyTimeout, "PRAGMA query_only = 1"}, 1)
	mark, err = identify(ctx, db, path)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sqlite: %s: %w", path, cerr)
	}
	return mark, err
}
