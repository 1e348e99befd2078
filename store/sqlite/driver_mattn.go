//go:build portico_mattn

package sqlite

import (
	"database/sql/driver"
	"errors"

	mattn "github.com/mattn/go-sqlite3"
)

// DriverName names the SQLite driver linked into this build: github.com/mattn/go-sqlite3, the
// cgo binding, selected by the portico_mattn build tag only to repeat the driver measurement
// of docs/store.md. The product is built without the tag.
const DriverName = "github.com/mattn/go-sqlite3"

func sqlDriver() driver.Driver { return &mattn.SQLiteDriver{} }

// writerDSN is the DSN of a writing connection to the database at path: the cgo build writes
// the WAL through SQLite's own VFS (the WAL write buffer is the pure-Go driver's).
func writerDSN(path string) (string, error) { return path, nil }

// errorCode is SQLite's primary result code of a driver error (SQLITE_FULL...), 0 for another
// error.
func errorCode(err error) int {
	var e mattn.Error
	if errors.As(err, &e) {
		return int(e.Code)
	}
	return 0
}
