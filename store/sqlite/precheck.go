package sqlite

import (
	"context"
	"fmt"
	"slices"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/lanes"
)

// A conditional create's criteria (Write.IfNoneExist) must match nothing when the write
// commits. The writer used to search them inside its transaction, and since it is the only
// writer, costly criteria held every other write: a patient's transaction of six conditional
// creates whose criteria took 3 s each stalled everyone's writes 11 s, and /readyz failed
// (blind attack, round 8). Now the criteria are searched before the write is queued, on a
// search connection and in the search lanes like any search (precheck), and the writer checks
// them only against the resources of the type written since that search began (usually none,
// at most maxRecheck; beyond, it searches them all as before).
const maxRecheck = 1000

// afterPrecheck, set by tests only, runs after each criteria's search, before the write is
// queued.
var afterPrecheck func()

// precheck searches the criteria of writes' conditional creates. It returns the writes to
// queue (their IfNoneExist copied) and, for each criteria, the commit sequence up to which
// the search saw every version; an ExistsError when one matches already.
func (s *Store) precheck(ctx context.Context, writes []store.Write) ([]store.Write, map[*store.Query]int64, error) {
	var out []store.Write
	var checked map[*store.Query]int64
	for i := range writes {
		if writes[i].IfNoneExist == nil {
			continue
		}
		if out == nil {
			out, checked = slices.Clone(writes), map[*store.Query]int64{}
		}
		q := *writes[i].IfNoneExist
		seq, err := s.searchedAt(ctx, &writes[i], q)
		if err != nil {
			return nil, nil, err
		}
		out[i].IfNoneExist = &q
		checked[&q] = seq
		if afterPrecheck != nil {
			afterPrecheck()
		}
	}
	if out == nil {
		return writes, nil, nil
	}
	return out, checked, nil
}

// searchedAt searches wr's criteria q and returns the sequence of the last version committed
// before the search began: every version up to it was visible to the search (each statement
// reads the database as of its start, and the sequence is read first).
func (s *Store) searchedAt(ctx context.Context, wr *store.Write, q store.Query) (int64, error) {
	db, runCtx, release, err := s.lanes.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	var seq int64
	if err := db.QueryRowContext(runCtx, `SELECT coalesce(max(seq), 0) FROM versions`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("sqlite: conditional create of %s/%s: %w", wr.Type, wr.ID, lanes.Yielded(ctx, runCtx, err))
	}
	if q.Count <= 0 {
		q.Count = conditionalLimit
	}
	q.Cursor, q.Total = "", false
	page, err := search(runCtx, db, q)
	if err != nil {
		return 0, fmt.Errorf("sqlite: conditional create of %s/%s: %w", wr.Type, wr.ID, lanes.Yielded(ctx, runCtx, err))
	}
	if len(page.Records) > 0 {
		return 0, fmt.Errorf("sqlite: conditional create of %s/%s: %w", wr.Type, wr.ID, &store.ExistsError{Matches: page.Records})
	}
	return seq, nil
}

// changedSince returns the ids of typ's resources with a version after seq, written by
// earlier transactions or earlier in this one; all is true when there are more than
// maxRecheck. The unary + keeps SQLite from walking the type's whole history by the
// (type, ...) index instead of the few rows after seq.
func (w *writer) changedSince(ctx context.Context, typ string, seq int64) (ids []string, all bool, err error) {
	rows, err := w.conn.QueryContext(ctx, `SELECT DISTINCT id FROM versions WHERE seq > ? AND +type = ? LIMIT ?`, seq, typ, maxRecheck+1)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: versions since %d: %w", seq, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, false, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return ids, len(ids) > maxRecheck, nil
}
