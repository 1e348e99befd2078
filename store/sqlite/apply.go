package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-health/portico/store"
)

// conditionalLimit bounds the matches an ExistsError carries when IfNoneExist sets no Count:
// the api only needs to tell one match (answer with it) from several (412), and more would
// only cost reads inside the write transaction.
const conditionalLimit = 10

const latestSQL = `SELECT rid, version FROM resources WHERE type = ? AND id = ?`

// deleteIndexSQL removes a resource's rows from one index table (by the primary key's rid, or
// composites_by_rid).
func deleteIndexSQL(table string) string { return `DELETE FROM ` + table + ` WHERE rid = ?` }

// writeStmts are the writer's statements, prepared once on its connection.
type writeStmts struct {
	latest, insertVersion, insertResource, updateResource *sql.Stmt
	deleteIndex                                           []*sql.Stmt // one per indexTables
}

func prepareWriteStmts(ctx context.Context, conn *sql.Conn) (*writeStmts, error) {
	s := &writeStmts{deleteIndex: make([]*sql.Stmt, len(indexTables))}
	list := []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.latest, latestSQL},
		{&s.insertVersion, `INSERT INTO versions (type, id, version, last_updated, op, body) VALUES (?, ?, ?, ?, ?, ?)`},
		{&s.insertResource, `INSERT INTO resources (type, id, version, seq, deleted, last_updated) VALUES (?, ?, ?, ?, ?, ?)`},
		{&s.updateResource, `UPDATE resources SET version = ?, seq = ?, deleted = ?, last_updated = ? WHERE rid = ?`},
	}
	for i, t := range indexTables {
		list = append(list, struct {
			stmt **sql.Stmt
			sql  string
		}{&s.deleteIndex[i], deleteIndexSQL(t)})
	}
	for _, p := range list {
		stmt, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	return s, nil
}

func (s *writeStmts) close() {
	all := append([]*sql.Stmt{s.latest, s.insertVersion, s.insertResource, s.updateResource}, s.deleteIndex...)
	for _, stmt := range all {
		if stmt != nil {
			_ = stmt.Close() // closing the connection next releases them anyway
		}
	}
}

// latest checks wr's version precondition and returns its resource's rid (not Valid for a
// resource that never existed).
func (w *writer) latest(ctx context.Context, wr *store.Write) (sql.NullInt64, error) {
	var rid sql.NullInt64
	var latest int64 // 0: the resource never existed
	err := w.stmts.latest.QueryRowContext(ctx, wr.Type, wr.ID).Scan(&rid, &latest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return rid, fmt.Errorf("sqlite: latest version of %s/%s: %w", wr.Type, wr.ID, err)
	}
	if latest != wr.Version-1 {
		return rid, fmt.Errorf("sqlite: %s/%s: writing version %d over version %d: %w",
			wr.Type, wr.ID, wr.Version, latest, store.ErrVersionConflict)
	}
	return rid, nil
}

// ifNoneExist checks that wr's conditional create matches nothing: when its criteria were
// searched before it was queued (precheck.go), against the resources written since only.
func (w *writer) ifNoneExist(ctx context.Context, wr *store.Write) error {
	q := *wr.IfNoneExist
	if seq, ok := w.checked[wr.IfNoneExist]; ok {
		ids, all, err := w.changedSince(ctx, wr.Type, seq)
		if err != nil {
			return err
		}
		if !all {
			if len(ids) == 0 {
				return nil
			}
			vals := make([]store.Value, len(ids))
			for i, id := range ids {
				vals[i] = store.Value{Code: id}
			}
			q.Where = append(slices.Clip(q.Where), store.Clause{Param: "_id", Kind: store.KindToken, Values: vals})
		}
	}
	if q.Count <= 0 {
		q.Count = conditionalLimit
	}
	q.Cursor, q.Total = "", false
	page, err := search(ctx, w.conn, q)
	if err != nil {
		return fmt.Errorf("sqlite: conditional create of %s/%s: %w", wr.Type, wr.ID, err)
	}
	if len(page.Records) > 0 {
		return fmt.Errorf("sqlite: conditional create of %s/%s: %w", wr.Type, wr.ID,
			&store.ExistsError{Matches: page.Records})
	}
	return nil
}

// checkVersion checks wr's version precondition only.
func (w *writer) checkVersion(ctx context.Context, wr *store.Write) error {
	_, err := w.latest(ctx, wr)
	return err
}

// errModified marks an error that struck after apply began to modify the database: without a
// savepoint around the call, only rolling back the whole transaction undoes it.
type errModified struct{ error }

func (e errModified) Unwrap() error { return e.error }

// failAfterModify, set by tests only, makes apply fail once it has modified the database.
var failAfterModify func(*store.Write) error

// apply checks one write's preconditions and stores it. Every precondition is checked before
// anything is modified; an error after that is an errModified.
func (w *writer) apply(ctx context.Context, wr *store.Write) (err error) {
	if wr.IfNoneExist != nil {
		if err := w.ifNoneExist(ctx, wr); err != nil {
			return err
		}
	}

	rid, err := w.latest(ctx, wr)
	if err != nil {
		return err
	}

	var body any // NULL for a tombstone, whatever a nil []byte would bind as
	deleted := wr.Op == store.OpDelete
	if !deleted {
		body = wr.Body
	}
	lu := toNanos(wr.LastUpdated)
	defer func() {
		if err != nil {
			err = errModified{err}
		}
	}()
	res, err := w.stmts.insertVersion.ExecContext(ctx, wr.Type, wr.ID, wr.Version, lu, wr.Op, body)
	if err != nil {
		return fmt.Errorf("sqlite: insert %s/%s/_history/%d: %w", wr.Type, wr.ID, wr.Version, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: sequence of %s/%s: %w", wr.Type, wr.ID, err)
	}
	if failAfterModify != nil {
		if err := failAfterModify(wr); err != nil {
			return err
		}
	}
	if rid.Valid {
		if _, err := w.stmts.updateResource.ExecContext(ctx, wr.Version, seq, deleted, lu, rid.Int64); err != nil {
			return fmt.Errorf("sqlite: current version of %s/%s: %w", wr.Type, wr.ID, err)
		}
		// The previous version's entries stop matching.
		for _, stmt := range w.stmts.deleteIndex {
			if _, err := stmt.ExecContext(ctx, rid.Int64); err != nil {
				return fmt.Errorf("sqlite: index of %s/%s: %w", wr.Type, wr.ID, err)
			}
		}
	} else {
		res, err := w.stmts.insertResource.ExecContext(ctx, wr.Type, wr.ID, wr.Version, seq, deleted, lu)
		if err != nil {
			return fmt.Errorf("sqlite: current version of %s/%s: %w", wr.Type, wr.ID, err)
		}
		if rid.Int64, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: rid of %s/%s: %w", wr.Type, wr.ID, err)
		}
	}
	if err := w.insertIndex(ctx, rid.Int64, wr); err != nil {
		return fmt.Errorf("sqlite: index of %s/%s: %w", wr.Type, wr.ID, err)
	}
	return nil
}

// walkable reports whether a sort key of e goes into the sort walk indexes (sorts_by_lo/hi).
// Numbers and quantities are left out: their keys are nearly unique (a random page of each walk
// index per insert) and nobody pages through a whole type in their order; a _sort on them sorts
// the matches instead (search.go). Dates, strings and the tokens that keep a sort row (ranked
// codes: Communication.priority) stay walkable; a token sorted by its text does not (sortKeys).
func walkable(e *store.IndexEntry) bool {
	switch e.Kind {
	case store.KindReference, store.KindURI, store.KindNumber, store.KindQuantity:
		return false
	case store.KindToken:
		return e.Code != ""
	}
	return true
}

// indexRows gathers a version's index rows per table, so that each table gets one
// multi-row INSERT: per statement, database/sql and the driver cost about as much CPU as
// SQLite's b-tree insert of a row (docs/store.md, "Write cost").
type indexRows struct {
	args  [numIndexTables][]any
	count [numIndexTables]int
}

// The position of each table in indexTables, and the columns its INSERT lists (OR IGNORE: an
// extractor may emit the same entry twice for one resource).
const numIndexTables = 7

const (
	tTokens = iota
	tStrings
	tRefs
	tRanges
	tURIs
	tComposites
	tSorts
)

var insertColumns = [numIndexTables]string{
	tTokens:     "OR IGNORE INTO tokens (rid, type, param, system, code, text)",
	tStrings:    "OR IGNORE INTO strings (rid, type, param, text, code)",
	tRefs:       "OR IGNORE INTO refs (rid, type, param, ref_type, ref_id, ref_url, system, code)",
	tRanges:     "OR IGNORE INTO ranges (rid, type, param, lo, hi, system, code)",
	tURIs:       "OR IGNORE INTO uris (rid, type, param, uri)",
	tComposites: "INTO composites (rid, type, param, a_system, a_code, a_text, a_lo, a_hi, b_system, b_code, b_text, b_lo, b_hi)",
	tSorts:      "INTO sorts (rid, type, param, lo, hi, walk)",
}

func init() {
	for i, t := range indexTables {
		if !strings.Contains(insertColumns[i], "INTO "+t+" (") {
			panic("sqlite: insertColumns does not follow indexTables at " + t)
		}
	}
}

// maxRowsPerInsert bounds a multi-row INSERT (and the distinct statements the writer keeps
// prepared: one per table and row count up to this).
const maxRowsPerInsert = 32

func (r *indexRows) add(table int, args ...any) {
	r.args[table] = append(r.args[table], args...)
	r.count[table]++
}

// insertSQL is the INSERT of n rows of cols columns into a table.
func insertSQL(table, n int) string {
	cols := strings.Count(insertColumns[table], ",") + 1
	row := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return "INSERT " + insertColumns[table] + " VALUES " + strings.Repeat(row+", ", n-1) + row
}

// insertStmt is the writer's prepared INSERT of n rows into a table.
func (w *writer) insertStmt(ctx context.Context, table, n int) (*sql.Stmt, error) {
	key := table*(maxRowsPerInsert+1) + n
	if st := w.inserts[key]; st != nil {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, insertSQL(table, n))
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare insert: %w", err)
	}
	if w.inserts == nil {
		w.inserts = map[int]*sql.Stmt{}
	}
	w.inserts[key] = st
	return st, nil
}

// flush inserts the gathered rows, maxRowsPerInsert per statement.
func (w *writer) flush(ctx context.Context, r *indexRows) error {
	for table := range indexTables {
		args, n := r.args[table], r.count[table]
		if n == 0 {
			continue
		}
		cols := len(args) / n
		for n > 0 { // a resource with more rows than maxRowsPerInsert takes several statements
			k := min(n, maxRowsPerInsert)
			st, err := w.insertStmt(ctx, table, k)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, args[:k*cols]...); err != nil {
				return err
			}
			args, n = args[k*cols:], n-k
		}
	}
	return nil
}

// sortRow reports whether e's sort key may be stored in sorts. References and uris are not:
// search.go reads their keys from refs and uris when a _sort asks for them (rarely: nobody
// sorts Observations by patient), which saves a create two b-tree insertions per such
// parameter (an Observation has three: patient, subject, performer). Tokens keep a row only
// when their codes do not give their sort keys (sortKeys).
func sortRow(e *store.IndexEntry) bool {
	return e.Kind != store.KindReference && e.Kind != store.KindURI
}

// sortKeys are one parameter's sort keys in one resource: the smallest and largest SortKey of
// its entries, and for a token parameter the smallest and largest of its non-empty codes.
type sortKeys struct {
	lo, hi         string
	walk           bool
	token          bool
	codeLo, codeHi string
}

func (k *sortKeys) add(e *store.IndexEntry) {
	if k.lo == "" {
		k.lo, k.hi, k.walk, k.token = e.SortKey, e.SortKey, true, e.Kind == store.KindToken
	}
	k.lo, k.hi = min(k.lo, e.SortKey), max(k.hi, e.SortKey)
	k.walk = k.walk && walkable(e)
	if e.Kind == store.KindToken && e.Code != "" {
		if k.codeLo == "" {
			k.codeLo, k.codeHi = e.Code, e.Code
		}
		k.codeLo, k.codeHi = min(k.codeLo, e.Code), max(k.codeHi, e.Code)
	}
}

// derived reports whether the keys are what search.go reads from the tokens table when a
// resource has no sort row: its smallest and largest code. That is so for nearly every token
// (status, code, category, identifier: a token's sort key is its code), which saves a create
// the sort row and its two walk index entries per token parameter (nine of the ~40 b-tree
// insertions of a lab Observation). A _sort on such a parameter walks tokens_by_code instead
// (search.go, walkSQL). Ranked codes (Communication.priority, walked for triage) and concepts
// known by their text alone keep a row; the latter an unwalked one, so that a _sort on a
// parameter where some resources have one sorts its matches (sortWalkSQL). A parameter with
// walkable rows must have them in every resource, or a walk of its rows would miss the others:
// the extractor ranks every Communication.priority (fhir.ExtractIndex).
func (k *sortKeys) derived() bool { return k.token && k.lo == k.codeLo && k.hi == k.codeHi }

// insertIndex stores a version's index entries and sort keys under its resource's rid.
func (w *writer) insertIndex(ctx context.Context, rid int64, wr *store.Write) error {
	var sorts map[string]*sortKeys
	var sortOrder []string
	var rows indexRows
	for i := range wr.Index {
		e := &wr.Index[i]
		if isColumn(e.Param) {
			// _id and _lastUpdated are columns of resources, searched and sorted there: their
			// entries would only cost insertions.
			continue
		}
		switch e.Kind {
		case store.KindToken:
			rows.add(tTokens, rid, wr.Type, e.Param, e.System, e.Code, e.Text)
		case store.KindString:
			rows.add(tStrings, rid, wr.Type, e.Param, e.Text, e.Code)
		case store.KindReference:
			rows.add(tRefs, rid, wr.Type, e.Param, e.RefType, e.RefID, e.RefURL, e.System, e.Code)
		case store.KindDate, store.KindNumber, store.KindQuantity:
			rows.add(tRanges, rid, wr.Type, e.Param, e.Low, e.High, e.System, e.Code)
		case store.KindURI:
			rows.add(tURIs, rid, wr.Type, e.Param, e.Text)
		case store.KindComposite:
			args := []any{rid, wr.Type, e.Param}
			for k := range 2 {
				var c store.IndexEntry
				if k < len(e.Components) {
					c = e.Components[k]
				}
				args = append(args, componentColumns(c)...)
			}
			rows.add(tComposites, args...)
		default:
			// Special parameters (near, ...) have no table: no clause can reach them, and the
			// compiler refuses their clauses with ErrUnsupported.
		}
		if e.SortKey != "" && sortRow(e) {
			if sorts == nil {
				sorts = map[string]*sortKeys{}
			}
			k := sorts[e.Param]
			if k == nil {
				k = &sortKeys{}
				sorts[e.Param] = k
				sortOrder = append(sortOrder, e.Param)
			}
			k.add(e)
		}
	}
	for _, p := range sortOrder {
		if k := sorts[p]; !k.derived() {
			rows.add(tSorts, rid, wr.Type, p, k.lo, k.hi, k.walk)
		}
	}
	return w.flush(ctx, &rows)
}

// componentColumns are a composite component's system, code, text, lo and hi columns
// (docs/store.md, "composites").
func componentColumns(c store.IndexEntry) []any {
	switch c.Kind {
	case store.KindDate, store.KindNumber, store.KindQuantity:
		return []any{c.System, c.Code, "", c.Low, c.High}
	case store.KindReference:
		return []any{c.RefType, c.RefID, c.RefURL, nil, nil}
	case store.KindURI:
		return []any{"", "", c.Text, nil, nil}
	}
	return []any{c.System, c.Code, c.Text, nil, nil} // token, string
}
