//go:build !portico_mattn

package sqlite

import (
	"database/sql/driver"

	modernc "modernc.org/sqlite"
)

// DriverName names the SQLite driver linked into this build: modernc.org/sqlite, a pure-Go
// translation of SQLite, so Portico builds with CGO_ENABLED=0 into a static binary. The cgo
// driver is linked instead only under the portico_mattn build tag, to repeat the driver
// measurement of docs/store.md.
const DriverName = "modernc.org/sqlite"

func sqlDriver() driver.Driver { return &modernc.Driver{} }
