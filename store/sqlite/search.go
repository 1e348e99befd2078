package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/portico-health/portico/store"
)

// queryer is what a search needs from a connection: the read pool for Search, the writer's
// connection inside its transaction for a conditional create.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Search implements store.Store.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Page, error) {
	if s.closed.Load() {
		return store.Page{}, errClosed
	}
	return search(ctx, s.read, q)
}

func search(ctx context.Context, db queryer, q store.Query) (store.Page, error) {
	if len(q.Types) != 1 || q.Count <= 0 {
		return store.Page{}, fmt.Errorf("sqlite: search needs one type and a positive count (got %q, %d)", q.Types, q.Count)
	}
	after := "" // no resource id is empty, so the first page starts after ""
	if q.Cursor != "" {
		var err error
		if after, err = decodeSearchCursor(q.Cursor); err != nil {
			return store.Page{}, err
		}
	}
	m, err := compileMatch(q)
	if err != nil {
		return store.Page{}, err
	}

	query, args := m.pageSQL(q.Types[0], after, q.Count+1)
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return store.Page{}, wrap(ctx, "search", err)
	}
	page := store.Page{Total: -1}
	for rows.Next() {
		rec := store.Record{Type: q.Types[0]}
		var lu int64
		if err := rows.Scan(&rec.ID, &rec.Version, &lu, &rec.Op, &rec.Body); err != nil {
			_ = rows.Close()
			return store.Page{}, wrap(ctx, "search", err)
		}
		rec.LastUpdated = fromNanos(lu)
		page.Records = append(page.Records, rec)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return store.Page{}, wrap(ctx, "search", err)
	}
	if len(page.Records) > q.Count { // one more than asked: there is a next page
		page.Records = page.Records[:q.Count]
		page.Next = encodeSearchCursor(page.Records[q.Count-1].ID)
	}

	if q.Total {
		query, args := m.countSQL()
		if err := db.QueryRowContext(ctx, query, args...).Scan(&page.Total); err != nil {
			return store.Page{}, wrap(ctx, "search total", err)
		}
	}
	return page, nil
}

// match is a compiled Query: SQL selecting the ids of matching current resources. It drives
// from one table (the first _id clause's resources rows, else the first token clause's index
// rows, else every resource of the type) in id order, and checks the other clauses per row,
// so a page of a common code reads Count rows of an index rather than every match.
type match struct {
	idCol    string // the column holding the resource id: "r.id" or "t.id"
	from     string
	where    []string
	args     []any
	distinct bool // the driving token clause can match one resource through several rows
}

// pageSQL selects the records of the limit matches after the id after.
func (m match) pageSQL(typ, after string, limit int) (string, []any) {
	inner, args := m.idsSQL(true)
	query := `SELECT m.id, v.version, v.last_updated, v.op, v.body FROM (` + inner + ` LIMIT ?) AS m
		JOIN resources r ON r.type = ? AND r.id = m.id
		JOIN versions v ON v.seq = r.seq
		ORDER BY m.id`
	return query, append(args, after, limit, typ)
}

// countSQL counts every match, for Page.Total.
func (m match) countSQL() (string, []any) {
	inner, args := m.idsSQL(false)
	return `SELECT count(*) FROM (` + inner + `)`, args
}

// idsSQL selects the matching ids; paged adds "id > ?" and the id order, leaving the
// cursor's and the limit's placeholders to be bound last.
func (m match) idsSQL(paged bool) (string, []any) {
	query := "SELECT "
	if m.distinct {
		query += "DISTINCT "
	}
	query += m.idCol + " AS id FROM " + m.from + " WHERE "
	for i, w := range m.where {
		if i > 0 {
			query += " AND "
		}
		query += w
	}
	args := append([]any(nil), m.args...)
	if paged {
		query += " AND " + m.idCol + " > ? ORDER BY " + m.idCol
	}
	return query, args
}
