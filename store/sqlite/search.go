package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/lanes"
)

// queryer is what a search needs from a connection: the read pool for Search, the writer's
// connection inside its transaction for a conditional create.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// driveThreshold decides between the two plans of a search (docs/store.md, "Search"): a
// clause with fewer matches drives the search and its matches are sorted; when every clause
// has at least this many, the search walks the sort order's index and probes the clauses on
// each resource, stopping after a page.
var driveThreshold = 500

// driveAliases numbers the aliases of driving subqueries from here, apart from the aliases of
// the search's own conditions, which a chain or _has drive embeds beside its own.
const driveAliases = 1_000_000

// smallDrive ends the estimates early: a clause with at most this many matches drives.
const smallDrive = 200

// Search implements store.Store.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Page, error) {
	if s.closed.Load() {
		return store.Page{}, errClosed
	}
	db, runCtx, release, err := s.lanes.acquire(ctx)
	if err != nil {
		return store.Page{}, wrap(ctx, "search", err)
	}
	defer release()
	page, err := search(runCtx, db, q)
	return page, lanes.Yielded(ctx, runCtx, err)
}

// traceSQL sees every search statement before it runs; TestQueryPlans explains them.
var traceHook atomic.Pointer[func(frag)]

func traceSQL(f frag) {
	if h := traceHook.Load(); h != nil {
		(*h)(f)
	}
}

// orderItem is one term of a search's order: an expression over the resources row r.
type orderItem struct {
	expr string
	args []any
	desc bool
	// nullable: a sort parameter the resource may have no entry for. Those come last: the
	// expression yields missingValue(desc) for them, an empty BLOB ascending (SQLite orders
	// every BLOB after every TEXT) and NULL descending (NULL is the smallest value), so that
	// the order needs no second term and the key's subquery runs once per row.
	nullable bool
}

// plan is a compiled search: the SQL shape of its page and count queries.
type plan struct {
	from     string
	fromArgs []any
	conds    []frag // ANDed; every one a condition on the resources row r
	items    []orderItem
}

func search(ctx context.Context, db queryer, q store.Query) (store.Page, error) {
	if q.Count <= 0 {
		return store.Page{}, fmt.Errorf("sqlite: search needs a positive count (got %d)", q.Count)
	}
	types := q.Types
	if len(types) == 0 {
		var err error
		if types, err = allTypes(ctx, db); err != nil {
			return store.Page{}, err
		}
		if len(types) == 0 {
			return emptyPage(q), nil
		}
	}
	var c compiler
	where, err := c.where(q.Where, "r")
	if err != nil {
		return store.Page{}, err
	}
	items := orderItems(q.Sort)
	var after []any
	if q.Cursor != "" {
		if after, err = decodeSearchCursor(q.Cursor, len(items)); err != nil {
			return store.Page{}, err
		}
	}

	base := plan{from: "resources r", items: items, conds: []frag{{sql: "r.deleted = 0"}, inList("r.type", types), where}}
	base.conds[1].sql = strings.TrimPrefix(base.conds[1].sql, " AND ")

	// The driving clause: the one with the fewest matches, if any has few enough.
	var drive *frag
	var pagePlan plan
	best := -1
	driveAt := -1
	dc := compiler{n: driveAliases} // the drives' subqueries: aliases apart from the where's
	var reach *frag
	reachAt := -1
	// The caller's reach is estimated first: when it drives (fewer than driveThreshold rows),
	// nothing else is estimated. The estimate of another clause (a _has over every patient's
	// Observations) could cost, and take time, in proportion to data the caller cannot see.
	order := make([]int, 0, len(q.Where))
	for i, cl := range q.Where {
		if cl.Reach {
			order = append(order, i)
		}
	}
	for i, cl := range q.Where {
		if !cl.Reach {
			order = append(order, i)
		}
	}
	for _, i := range order {
		cl := q.Where[i]
		f, ok := driveSQL(&dc, cl, types)
		if !ok {
			continue
		}
		if cl.Reach {
			reach, reachAt = &f, i
		}
		n, err := estimate(ctx, db, f)
		if err != nil {
			return store.Page{}, err
		}
		if best < 0 || n < best {
			best, drive, driveAt = n, &f, i
		}
		if n <= smallDrive || (cl.Reach && n < driveThreshold) {
			break // a confined caller's own data, small enough: nothing else is estimated
		}
	}
	if drive != nil && best >= driveThreshold {
		drive = nil // walk the order instead
		if reach != nil {
			// Unless the caller is confined: walking visits others' resources too, and would
			// cost more the more hidden data lies between the caller's (a practitioner's count
			// of a code 20,000 hidden Observations carry took seconds). Driven by the caller's
			// reach, the search costs what the caller's own data costs: always for a count,
			// which walks everything; for a page, while that data is small enough to read
			// whole. A caller who sees more than that is a dense part of the data (a large
			// clinic), where the walk finds a page quickly.
			n := 0
			if !q.Total {
				if n, err = estimateUpTo(ctx, db, *reach, reachDriveLimit); err != nil {
					return store.Page{}, err
				}
			}
			if q.Total || n < reachDriveLimit {
				drive, driveAt = reach, reachAt
			}
		}
	}
	if drive != nil {
		// The driving rows are current and of the searched types already; leaving out the
		// type condition leaves SQLite no plan but the rowid lookups of the IN list.
		in := frag{sql: "r.rid IN ("}
		in.addFrag(*drive)
		in.add(")")
		// The driving clause itself needs no probe, unless its SQL selects more than its
		// matches (an OR of groups driven by one clause of each).
		rest := q.Where
		if driveExact(q.Where[driveAt]) {
			rest = append(slices.Clone(q.Where[:driveAt]), q.Where[driveAt+1:]...)
		}
		var c compiler
		where, err := c.where(rest, "r")
		if err != nil {
			return store.Page{}, err
		}
		base.conds = []frag{in, where}
		if lean(q, rest) {
			// Nothing but rid is needed from the candidates until the page is known: the page
			// query reads them straight from the drive, and only the page's rows read their
			// resources row.
			pagePlan = plan{from: "(SELECT DISTINCT" + strings.TrimPrefix(drive.sql, "SELECT") + ") r",
				fromArgs: drive.args, conds: []frag{where}, items: items}
		}
	}
	if pagePlan.from == "" {
		pagePlan = base
	}

	page := store.Page{Total: -1}
	limit := q.Count + 1
	base, full := pagePlan, base // the page's plan; the count's
	var rows []searchRow
	truncated := false
	walk := walkNone
	if drive == nil && len(q.Sort) > 0 && !isColumn(q.Sort[0].Param) && len(types) == 1 {
		if walk, err = sortWalk(ctx, db, types[0], q.Sort[0].Param); err != nil {
			return store.Page{}, err
		}
	}
	if walk == walkNone {
		if rows, truncated, err = base.run(ctx, db, after, limit, q.MaxBytes); err != nil {
			return store.Page{}, err
		}
	} else {
		// Phase 1 walks the index of the first key (sorts_by_lo/hi, or tokens_by_code): the
		// resources with an entry for it, in its order. Phase 2 lists those without one, which
		// come last.
		k := q.Sort[0]
		first, has := walkSQL(walk, k)
		if after == nil || after[0] != nil {
			p1 := base
			p1.from = first.sql
			p1.conds = append([]frag{{sql: first.cond, args: []any{types[0], k.Param}}}, base.conds...)
			p1.items = append([]orderItem{{expr: first.key, desc: k.Desc}}, items[1:]...)
			// The tie-break read from the index itself: both walk indexes end with rid.
			p1.items[len(p1.items)-1].expr = "s0.rid"
			if rows, truncated, err = p1.run(ctx, db, after, limit, q.MaxBytes); err != nil {
				return store.Page{}, err
			}
			after = nil
		}
		if len(rows) < limit && !truncated {
			p2 := base
			p2.conds = append(append([]frag(nil), base.conds...), frag{sql: "NOT EXISTS (" + has + ")", args: []any{k.Param}})
			p2.items = append([]orderItem{{expr: missingValue(k.Desc), desc: k.Desc, nullable: true}}, items[1:]...)
			budget := 0
			if q.MaxBytes > 0 {
				budget = max(q.MaxBytes-bodyBytes(rows), 1)
				if len(rows) > 0 && bodyBytes(rows) >= q.MaxBytes {
					budget = -1 // spent: read nothing more
				}
			}
			var more []searchRow
			if budget >= 0 {
				more, truncated, err = p2.run(ctx, db, after, limit-len(rows), budget)
				if err != nil {
					return store.Page{}, err
				}
			} else {
				truncated = true
			}
			rows = append(rows, more...)
		}
	}
	for _, r := range rows {
		page.Records = append(page.Records, r.rec)
	}
	switch {
	case len(rows) > q.Count: // one more than asked: there is a next page
		page.Records = page.Records[:q.Count]
		page.Next = encodeSearchCursor(rows[q.Count-1].keys)
	case truncated && len(rows) > 0: // the byte budget ended the page
		page.Next = encodeSearchCursor(rows[len(rows)-1].keys)
	}
	if q.Total {
		query := frag{sql: "SELECT count(*) FROM resources r WHERE "}
		query.addFrag(joinFrags(full.conds, " AND ", "1"))
		traceSQL(query)
		if err := db.QueryRowContext(ctx, query.sql, query.args...).Scan(&page.Total); err != nil {
			return store.Page{}, wrap(ctx, "search total", err)
		}
	}
	return page, nil
}

// lean reports whether a driven search's page can be chosen from the candidates' rids alone:
// it sorts on parameters only and no remaining clause reads the resources row's columns.
func lean(q store.Query, rest []store.Clause) bool {
	if len(q.Sort) == 0 {
		return false
	}
	for _, s := range q.Sort {
		if isColumn(s.Param) {
			return false
		}
	}
	for _, c := range rest {
		if readsRow(c) {
			return false
		}
	}
	return true
}

func emptyPage(q store.Query) store.Page {
	p := store.Page{Total: -1}
	if q.Total {
		p.Total = 0
	}
	return p
}

// missingValue is what a nullable order item yields for a resource without the key.
func missingValue(desc bool) string {
	if desc {
		return "NULL"
	}
	return "x''"
}

func isColumn(param string) bool {
	return param == idParam || param == typeParam || param == lastUpdatedParam
}

// orderItems is the order of a search: _sort's keys then rid (a stable tie-break in the first
// key's direction, which the sort indexes yield for free), or (type, id) by default.
func orderItems(sorts []store.Sort) []orderItem {
	if len(sorts) == 0 {
		return []orderItem{{expr: "r.type"}, {expr: "r.id"}}
	}
	var items []orderItem
	for _, s := range sorts {
		switch s.Param {
		case idParam:
			items = append(items, orderItem{expr: "r.id", desc: s.Desc})
		case lastUpdatedParam:
			items = append(items, orderItem{expr: "r.last_updated", desc: s.Desc})
		default:
			col := "lo"
			if s.Desc {
				col = "hi"
			}
			// The sort row; else the key of a token, reference or uri, read from its own table
			// (those keep no sort row: apply.go, sortRow and sortKeys); else the missing value.
			// A parameter has one kind, so at most one of the three has rows.
			agg := "min"
			if s.Desc {
				agg = "max"
			}
			expr := "coalesce((SELECT sk." + col + " FROM sorts sk WHERE sk.rid = r.rid AND sk.param = ?), " +
				"(SELECT " + agg + "(st.code) FROM tokens st WHERE st.rid = r.rid AND st.param = ? AND st.code != ''), " +
				"(SELECT " + agg + "(" + refSortKey + ") FROM refs sr WHERE sr.rid = r.rid AND sr.param = ?), " +
				"(SELECT " + agg + "(su.uri) FROM uris su WHERE su.rid = r.rid AND su.param = ?), " + missingValue(s.Desc) + ")"
			items = append(items, orderItem{expr: expr, args: []any{s.Param, s.Param, s.Param, s.Param}, desc: s.Desc, nullable: true})
		}
	}
	return append(items, orderItem{expr: "r.rid", desc: sorts[0].Desc})
}

// searchRow is one result and its order keys (the cursor of the page it ends).
type searchRow struct {
	rec  store.Record
	keys []any
}

// pageSQL is the page query of a plan: the keys of limit matches after the position after,
// in order, then their versions' records. Only the page's rows read a body.
func (p plan) pageSQL(after []any, limit int) frag {
	q := frag{sql: "SELECT rr.type, rr.id, v.version, v.last_updated, v.op, v.body"}
	for i := range p.items {
		q.sql += fmt.Sprintf(", m.k%d", i)
	}
	q.add(" FROM (SELECT r.rid AS rid")
	for i, it := range p.items {
		q.add(", "+it.expr+fmt.Sprintf(" AS k%d", i), it.args...)
	}
	q.add(" FROM "+p.from+" WHERE ", p.fromArgs...)
	conds := p.conds
	if after != nil {
		conds = append(append([]frag(nil), conds...), afterCond(p.items, after))
	}
	q.addFrag(joinFrags(conds, " AND ", "1"))
	q.add(" ORDER BY ")
	// By the result columns' names: a sort key's subquery runs once per row, not per use.
	q.addFrag(orderSQL(p.items, func(i int) string { return fmt.Sprintf("k%d", i) }))
	q.add(" LIMIT ?) AS m JOIN resources rr ON rr.rid = m.rid JOIN versions v ON v.seq = rr.seq ORDER BY ", limit)
	q.addFrag(orderSQL(p.items, func(i int) string { return fmt.Sprintf("m.k%d", i) }))
	return q
}

// run reads the page's rows; with budget > 0 it stops before the row whose body would pass
// budget bytes (after one row at least) and reports truncated.
func (p plan) run(ctx context.Context, db queryer, after []any, limit, budget int) (out []searchRow, truncated bool, err error) {
	q := p.pageSQL(after, limit)
	traceSQL(q)
	rows, err := db.QueryContext(ctx, q.sql, q.args...)
	if err != nil {
		return nil, false, wrap(ctx, "search", err)
	}
	used := 0
	for rows.Next() {
		var r searchRow
		var lu int64
		r.keys = make([]any, len(p.items))
		dst := []any{&r.rec.Type, &r.rec.ID, &r.rec.Version, &lu, &r.rec.Op, &r.rec.Body}
		for i := range r.keys {
			dst = append(dst, &r.keys[i])
		}
		if err := rows.Scan(dst...); err != nil {
			_ = rows.Close()
			return nil, false, wrap(ctx, "search", err)
		}
		if budget > 0 && len(out) > 0 && used+len(r.rec.Body) > budget {
			truncated = true
			break
		}
		used += len(r.rec.Body)
		for i, k := range r.keys {
			if _, ok := k.([]byte); ok { // the empty BLOB of a missing ascending key
				r.keys[i] = nil
			}
		}
		r.rec.LastUpdated = fromNanos(lu)
		out = append(out, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, false, wrap(ctx, "search", err)
	}
	return out, truncated, nil
}

// bodyBytes is the size of the rows' bodies.
func bodyBytes(rows []searchRow) int {
	n := 0
	for _, r := range rows {
		n += len(r.rec.Body)
	}
	return n
}

// orderSQL is the ORDER BY of items (named by name(i) when given): missing sort keys last.
func orderSQL(items []orderItem, name func(int) string) frag {
	var f frag
	for i, it := range items {
		if i > 0 {
			f.add(", ")
		}
		expr, args := it.expr, it.args
		if name != nil {
			expr, args = name(i), nil
		}
		f.add(expr, args...)
		if it.desc {
			f.add(" DESC")
		}
	}
	return f
}

// afterCond is "the row comes after the position keys" in the order of items. Its first term
// is also stated as a bound on its own, which an index walk turns into a range.
func afterCond(items []orderItem, keys []any) frag {
	var build func(i int) frag
	build = func(i int) frag {
		if i == len(items) {
			return frag{sql: "0"}
		}
		it, k := items[i], keys[i]
		op := " > ?"
		if it.desc {
			op = " < ?"
		}
		var after, eq frag
		switch {
		case it.nullable && k == nil: // a missing key: only other missing ones tie, none follow
			after = frag{sql: "0"}
			if it.desc {
				eq = frag{sql: it.expr + " IS NULL", args: it.args}
			} else {
				eq = frag{sql: it.expr + " = x''", args: it.args}
			}
		case it.nullable && it.desc: // missing keys (NULL) follow every key
			after = frag{sql: "(" + it.expr + " IS NULL OR " + it.expr + op + ")", args: append(append(append([]any(nil), it.args...), it.args...), k)}
			eq = frag{sql: it.expr + " = ?", args: append(append([]any(nil), it.args...), k)}
		default:
			after = frag{sql: it.expr + op, args: append(append([]any(nil), it.args...), k)}
			eq = frag{sql: it.expr + " = ?", args: append(append([]any(nil), it.args...), k)}
		}
		out := frag{sql: "("}
		out.addFrag(after)
		out.add(" OR (")
		out.addFrag(eq)
		out.add(" AND ")
		out.addFrag(build(i + 1))
		out.add("))")
		return out
	}
	f := build(0)
	if it, k := items[0], keys[0]; !it.nullable && k != nil {
		op := " >= ?"
		if it.desc {
			op = " <= ?"
		}
		bound := frag{sql: it.expr + op, args: append(append([]any(nil), it.args...), k)}
		bound.add(" AND ")
		bound.addFrag(f)
		f = frag{sql: "(" + bound.sql + ")", args: bound.args}
	}
	return f
}

// sortWalkSQL tells how a _sort on a parameter can walk an index in its order (docs/store.md,
// "Sort"): by its sort rows when they all are walkable (sorts_by_lo/hi), by its token codes
// when it keeps no sort row at all (tokens_by_code: a token sorted by its codes, apply.go
// sortKeys), else not at all: the search sorts its matches. Each test is one index descent.
// A parameter nobody of the type has is not walked either; its matches all tie.
const sortWalkSQL = `SELECT CASE
	WHEN EXISTS (SELECT 1 FROM sorts WHERE type = ?1 AND param = ?2 AND walk = 0) THEN 0
	WHEN EXISTS (SELECT 1 FROM sorts WHERE type = ?1 AND param = ?2 AND walk = 1) THEN 1
	WHEN EXISTS (SELECT 1 FROM tokens WHERE type = ?1 AND param = ?2 AND code > '') THEN 2
	ELSE 0 END`

// The ways a search can walk the order of its first sort key (sortWalkSQL).
const (
	walkNone   = 0
	walkSorts  = 1
	walkTokens = 2
)

// walkSQL is the first phase of a walk: the tables joined, the condition (with the type and
// the parameter as arguments) that gives each resource with a key once, the key; and has, a
// query that finds a resource's key (with the parameter as argument; r is the resource).
func walkSQL(walk int, k store.Sort) (first struct{ sql, cond, key string }, has string) {
	if walk == walkSorts {
		first.sql = "sorts s0 CROSS JOIN resources r"
		first.cond = "s0.type = ? AND s0.param = ? AND s0.walk = 1 AND r.rid = s0.rid"
		first.key = "s0.lo"
		if k.Desc {
			first.key = "s0.hi"
		}
		return first, "SELECT 1 FROM sorts s0 WHERE s0.rid = r.rid AND s0.param = ?"
	}
	// A resource's entry with its smallest code (largest, descending), the system breaking a
	// tie: the key orderItems reads for a resource without a sort row.
	cmp := "<"
	if k.Desc {
		cmp = ">"
	}
	first.sql = "tokens s0 CROSS JOIN resources r"
	first.cond = "s0.type = ? AND s0.param = ? AND s0.code > '' AND r.rid = s0.rid AND NOT EXISTS (SELECT 1 FROM tokens s1" +
		" WHERE s1.rid = s0.rid AND s1.param = s0.param AND s1.code > '' AND (s1.code " + cmp + " s0.code OR s1.code = s0.code AND s1.system " + cmp + " s0.system))"
	first.key = "s0.code"
	return first, "SELECT 1 FROM tokens s0 WHERE s0.rid = r.rid AND s0.param = ? AND s0.code > ''"
}

// refSortKey is a reference's sort key as fhir's extractor makes it: Type/id, else the URL as
// written, else the identifier's value (columns of refs, alias sr).
const refSortKey = "CASE WHEN sr.ref_id != '' THEN sr.ref_type || '/' || sr.ref_id WHEN sr.ref_url != '' THEN sr.ref_url ELSE sr.code END"

// sortWalk tells how a search sorted first on param can walk its order (sortWalkSQL).
func sortWalk(ctx context.Context, db queryer, typ, param string) (int, error) {
	var walk int
	f := frag{sql: sortWalkSQL, args: []any{typ, param}}
	traceSQL(f)
	if err := db.QueryRowContext(ctx, f.sql, f.args...).Scan(&walk); err != nil {
		return walkNone, wrap(ctx, "search sort", err)
	}
	return walk, nil
}

// estimate counts a driving clause's index rows, up to driveThreshold.
func estimate(ctx context.Context, db queryer, drive frag) (int, error) {
	return estimateUpTo(ctx, db, drive, driveThreshold)
}

// reachDriveLimit is how many rows a confined caller's reach may hold for a page of results to
// be driven by it rather than by walking the searched types' order (see search).
const reachDriveLimit = 20_000

// estimateUpTo counts a driving clause's index rows, up to limit.
func estimateUpTo(ctx context.Context, db queryer, drive frag, limit int) (int, error) {
	var n int
	q := frag{"SELECT count(*) FROM (" + drive.sql + " LIMIT ?)", append(drive.args, limit)}
	traceSQL(q)
	if err := db.QueryRowContext(ctx, q.sql, q.args...).Scan(&n); err != nil {
		return 0, wrap(ctx, "search estimate", err)
	}
	return n, nil
}

// allTypesSQL lists the types that have resources by skipping through resources_by_id: one
// index descent per type, not a scan.
const allTypesSQL = `WITH RECURSIVE t(type) AS (
	SELECT min(type) FROM resources
	UNION ALL
	SELECT (SELECT min(type) FROM resources WHERE type > t.type) FROM t WHERE t.type IS NOT NULL
) SELECT type FROM t WHERE type IS NOT NULL`

func allTypes(ctx context.Context, db queryer) ([]string, error) {
	rows, err := db.QueryContext(ctx, allTypesSQL)
	if err != nil {
		return nil, wrap(ctx, "search types", err)
	}
	var types []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			_ = rows.Close()
			return nil, wrap(ctx, "search types", err)
		}
		types = append(types, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, wrap(ctx, "search types", err)
	}
	return types, nil
}
