//go:build !portico_mattn

package sqlite

import (
	"database/sql/driver"
	"errors"

	modernc "modernc.org/sqlite"
)

// DriverName names the SQLite driver linked into this build: modernc.org/sqlite, a pure-Go
// translation of SQLite, so Portico builds with CGO_ENABLED=0 into a static binary. The cgo
// driver is linked instead only under the portico_mattn build tag, to repeat the driver
// measurement of docs/store.md.
const DriverName = "modernc.org/sqlite"

func sqlDriver() driver.Driver { return &modernc.Driver{} }

// errorCode is SQLite's primary result code of a driver error (SQLITE_FULL...), 0 for another
// error.
func errorCode(err error) int {
	var e *modernc.Error
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}
