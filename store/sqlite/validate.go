package sqlite

import (
	"errors"
	"fmt"
	"time"

	"github.com/portico-health/portico/store"
)

// maxBody is SQLite's default SQLITE_MAX_LENGTH, the largest BLOB it stores.
const maxBody = 1_000_000_000

// Instants outside these bounds do not fit in int64 Unix nanoseconds.
var (
	minInstant = time.Unix(0, -1<<63).UTC()
	maxInstant = time.Unix(0, 1<<63-1).UTC()
)

// errInvalidWrite marks a Write the caller built wrongly: a programming error in the api
// package, not a condition of the data, so it maps to no sentinel of the contract.
var errInvalidWrite = errors.New("sqlite: invalid write")

// validate checks what can be checked without the database, before a write is queued.
func validate(w *store.Write) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %s/%s/_history/%d: %s", errInvalidWrite, w.Type, w.ID, w.Version,
			fmt.Sprintf(format, args...))
	}
	switch {
	case w.Type == "" || w.ID == "":
		return bad("type and id are required")
	case w.Version < 1:
		return bad("version must be at least 1")
	case w.Op < store.OpCreate || w.Op > store.OpDelete:
		return bad("unknown op %d", w.Op)
	case w.Op == store.OpDelete && (w.Body != nil || len(w.Index) > 0):
		return bad("a delete carries no body and no index entries")
	case w.Op != store.OpDelete && len(w.Body) == 0:
		return bad("a body is required")
	case w.LastUpdated.Before(minInstant) || w.LastUpdated.After(maxInstant):
		return bad("LastUpdated %v is out of range", w.LastUpdated)
	case w.IfNoneExist != nil && (len(w.IfNoneExist.Types) != 1 || w.IfNoneExist.Types[0] != w.Type):
		return bad("IfNoneExist searches %q", w.IfNoneExist.Types)
	case len(w.Body) > maxBody:
		return fmt.Errorf("sqlite: %s/%s: body of %d bytes: %w", w.Type, w.ID, len(w.Body), store.ErrTooLarge)
	}
	for _, e := range w.Index {
		// Every kind has a table (special parameters are accepted and not indexed); an entry
		// of no known kind is the extractor's bug.
		if e.Kind < store.KindToken || e.Kind > store.KindSpecial || e.Param == "" {
			return bad("index entry %q of kind %d", e.Param, e.Kind)
		}
	}
	return nil
}
