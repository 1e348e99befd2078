package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/lanes"
)

// History implements store.Store. Versions are listed by (last_updated, seq) descending, and
// a cursor carries the position of the last record listed plus the highest seq of the first
// page (see historyPos), so paging is exact however writes interleave with it.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	if s.closed.Load() {
		return store.Page{}, errClosed
	}
	if q.Count <= 0 || (q.ID != "" && q.Type == "") {
		return store.Page{}, fmt.Errorf("sqlite: history needs a positive count, and a type with an id (got %+v)", q)
	}
	var pos *historyPos
	if q.Cursor != "" {
		p, err := decodeHistoryCursor(q.Cursor)
		if err != nil {
			return store.Page{}, err
		}
		pos = &p
	}

	query, args := historySQL(q, pos)
	db, runCtx, release, err := s.lanes.acquire(ctx)
	if err != nil {
		return store.Page{}, wrap(ctx, "history", err)
	}
	defer release()
	page, err := history(runCtx, db, q, query, args)
	return page, lanes.Yielded(ctx, runCtx, err)
}

func history(ctx context.Context, db *stmtCache, q store.HistoryQuery, query string, args []any) (store.Page, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return store.Page{}, wrap(ctx, "history", err)
	}
	page := store.Page{Total: -1}
	var positions []historyPos
	for rows.Next() {
		var rec store.Record
		var p historyPos
		if err := rows.Scan(&p.seq, &rec.Type, &rec.ID, &rec.Version, &p.lastUpdated, &rec.Op, &rec.Body,
			&p.high); err != nil {
			_ = rows.Close()
			return store.Page{}, wrap(ctx, "history", err)
		}
		rec.LastUpdated = fromNanos(p.lastUpdated)
		page.Records = append(page.Records, rec)
		positions = append(positions, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return store.Page{}, wrap(ctx, "history", err)
	}
	if len(page.Records) > q.Count { // one more than asked: there is a next page
		page.Records = page.Records[:q.Count]
		page.Next = encodeHistoryCursor(positions[q.Count-1])
	}
	return page, nil
}

// historySQL selects Count+1 versions of q after pos (nil for the first page), newest first,
// with the snapshot bound as the last column. Each shape drives from the index that yields
// its order: versions_by_resource for an instance (its few versions are then sorted),
// versions_by_type_time for a type, versions_by_time for the system.
func historySQL(q store.HistoryQuery, pos *historyPos) (string, []any) {
	var where []string
	args := []any{sql.Named("limit", q.Count+1)}
	from := "versions v"
	switch {
	case q.ID != "":
		from = "versions v INDEXED BY versions_by_resource"
		where = append(where, "v.type = :type", "v.id = :id")
		args = append(args, sql.Named("type", q.Type), sql.Named("id", q.ID))
	case q.Type != "":
		where = append(where, "v.type = :type")
		args = append(args, sql.Named("type", q.Type))
	}
	high := "(SELECT max(seq) FROM versions)" // the first page fixes the snapshot
	if pos != nil {
		high = ":high"
		where = append(where, "v.seq <= :high", "v.last_updated <= :lu", "(v.last_updated < :lu OR v.seq < :seq)")
		args = append(args, sql.Named("high", pos.high), sql.Named("lu", pos.lastUpdated), sql.Named("seq", pos.seq))
	}
	if !q.Since.IsZero() {
		where = append(where, "v.last_updated >= :since")
		args = append(args, sql.Named("since", toNanos(q.Since)))
	}
	if !q.At.IsZero() {
		// Current at At: written by then, and its successor (if any, within the snapshot) not.
		where = append(where, "v.last_updated <= :at", `NOT EXISTS (SELECT 1 FROM versions s
			WHERE s.type = v.type AND s.id = v.id AND s.version = v.version + 1
			AND s.last_updated <= :at AND s.seq <= `+high+`)`)
		args = append(args, sql.Named("at", toNanos(q.At)))
	}
	query := "SELECT v.seq, v.type, v.id, v.version, v.last_updated, v.op, v.body, " + high + " FROM " + from
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	return query + " ORDER BY v.last_updated DESC, v.seq DESC LIMIT :limit", args
}
