package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// BackupInfo describes a backup file, as Backup wrote it or Restore found it.
type BackupInfo struct {
	File          string  `json:"file"`
	Bytes         int64   `json:"bytes"`
	SchemaVersion int     `json:"schema_version"`
	Resources     int64   `json:"resources"` // current resources, deleted ones (tombstones) and internal records included
	Versions      int64   `json:"versions"`  // every version of every resource: the history
	Seconds       float64 `json:"seconds"`
}

// Backup copies the database of the store in dir into the new file out (0600), consistently,
// while a Portico may be serving from it: SQLite's VACUUM INTO reads one snapshot of the
// database in a read transaction, which in WAL mode neither blocks the server's writer nor is
// blocked by it, and writes a compact copy. The copy is checked (quick_check, Portico's
// tables) and fsynced before it appears under its name; out must not exist. It holds the
// whole store: resources with their history, users, apps, and the signing keys.
func Backup(ctx context.Context, dir, out string) (BackupInfo, error) {
	start := time.Now()
	src := filepath.Join(dir, DatabaseFile)
	if _, err := os.Stat(src); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: no database in %s: %w", dir, err)
	}
	if _, err := identifyFile(ctx, src); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	if _, err := os.Lstat(out); err == nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: %s exists; a backup never replaces a file", out)
	}
	// VACUUM INTO writes into a file that is new or empty: made here, 0600, as it holds
	// patient data and the authorization server's keys.
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".partial")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: %w (a backup running, or the leftover of one that stopped: remove it)", err)
	}
	_ = f.Close()
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmp)
		}
	}()

	// A plain connection: VACUUM INTO is refused on the store's query_only readers.
	db := openPool(src, []string{busyTimeout}, 1)
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", tmp)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return BackupInfo{}, wrap(ctx, "backup", err)
	}
	info, err := checkBackup(ctx, tmp)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: the copy does not check: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	// A link, unlike a rename, never replaces a file that appeared at out meanwhile.
	if err := os.Link(tmp, out); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	_ = os.Remove(tmp)
	done = true
	if err := syncFile(filepath.Dir(out)); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	info.File, info.Seconds = out, time.Since(start).Seconds()
	return info, nil
}

// Restore makes the backup file the database of a store in dir, which must hold no database:
// restoring is done with Portico stopped, into a new data directory or one whose database was
// moved aside (docs/operations.md, "Backup and restore"), so that nothing running can be
// using the file it writes. The backup is checked first and left as it is; the copy is
// fsynced before it appears under the database's name.
func Restore(ctx context.Context, file, dir string) (BackupInfo, error) {
	start := time.Now()
	dst := filepath.Join(dir, DatabaseFile)
	for _, p := range []string{dst, dst + "-wal", dst + "-shm"} {
		if _, err := os.Lstat(p); err == nil {
			return BackupInfo{}, fmt.Errorf("sqlite: restore: %s exists: stop Portico and move the data directory (or its %s files) aside first; a restore never replaces a database", p, DatabaseFile)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return BackupInfo{}, fmt.Errorf("sqlite: restore: %w", err)
		}
	}
	// Checked on a copy: opening the backup itself could change it (a WAL left beside it).
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: restore: data directory: %w", err)
	}
	tmp := dst + ".restore"
	if err := copyFile(file, tmp); err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, fmt.Errorf("sqlite: restore: %w", err)
	}
	info, err := checkBackup(ctx, tmp)
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, fmt.Errorf("sqlite: restore %s: %w", file, err)
	}
	if err := syncFile(dir); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: restore: %w", err)
	}
	info.File, info.Seconds = dst, time.Since(start).Seconds()
	return info, nil
}

// checkBackup checks that path is a sound Portico database (its header, its tables, a full
// quick_check, a schema version this build can open) and counts what it holds.
func checkBackup(ctx context.Context, path string) (BackupInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, err
	}
	if err := checkHeader(path, st.Size()); err != nil {
		return BackupInfo{}, err
	}
	if _, err := identifyFile(ctx, path); err != nil {
		return BackupInfo{}, err
	}
	if err := runQuickCheck(ctx, path); err != nil {
		return BackupInfo{}, err
	}
	info := BackupInfo{Bytes: st.Size()}
	db := openPool(path, []string{busyTimeout, "PRAGMA query_only = 1"}, 1)
	defer db.Close()
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&info.SchemaVersion); err != nil {
		return BackupInfo{}, wrap(ctx, "backup", err)
	}
	if info.SchemaVersion > schemaVersion {
		return BackupInfo{}, fmt.Errorf("database schema version %d is newer than this Portico's %d", info.SchemaVersion, schemaVersion)
	}
	if err := db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM resources), (SELECT count(*) FROM versions)").Scan(&info.Resources, &info.Versions); err != nil {
		return BackupInfo{}, wrap(ctx, "backup", err)
	}
	return info, nil
}

// copyFile copies src into the new file dst (0600) and fsyncs it.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Sync()
}
