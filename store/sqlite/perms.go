package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// The data directory and the database files hold patient data and the authorization server's
// keys and credentials: only the owner may read them. SQLite creates the -wal and -shm files
// with the mode of the database file, so creating that file 0600 covers all three (initialise);
// prepareFiles takes the group and other permissions away from the files of an older store
// (an older Portico created them 0755 and 0644).
const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600
)

// tighten removes the group and other permission bits of p, if it exists. A file Portico does
// not own (a volume prepared by someone else) is left as it is, with a warning.
func tighten(p string, log *slog.Logger) error {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	mode := st.Mode().Perm()
	if mode&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(p, mode&^0o077); err != nil {
		log.Warn("sqlite: cannot restrict the permissions of a data file; other users of this machine may read it",
			"path", p, "mode", mode.String(), "error", err.Error())
		return nil
	}
	log.Info("sqlite: restricted the permissions of a data file to its owner", "path", p,
		"was", mode.String(), "now", (mode &^ 0o077).String())
	return nil
}
