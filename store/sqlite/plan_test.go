package sqlite

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// TestQueryPlans asks SQLite how it runs every statement the store issues and fails on a full
// scan of a table or index: each must be an index search, whatever the data grows to.
func TestQueryPlans(t *testing.T) {
	s, err := Open(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	seedPlanData(t, s)

	tok := func(sys, code string, anySystem, anyCode bool) store.Value {
		return store.Value{System: sys, Code: code, AnySystem: anySystem, AnyCode: anyCode}
	}
	idc := store.Clause{Param: "_id", Kind: store.KindToken, Values: []store.Value{{Code: "p1"}, {Code: "p2"}}}
	ident := func(values ...store.Value) store.Clause {
		return store.Clause{Param: "identifier", Kind: store.KindToken, Values: values}
	}
	gender := store.Clause{Param: "gender", Kind: store.KindToken, Values: []store.Value{tok("", "male", true, false)}}
	searches := map[string][]store.Clause{
		"search code":          {ident(tok("", "1", true, false))},
		"search system|code":   {ident(tok("urn:a", "1", false, false))},
		"search |code":         {ident(tok("", "1", false, false))},
		"search system|":       {ident(tok("urn:a", "", false, true))},
		"search OR":            {ident(tok("urn:a", "1", false, false), tok("", "2", true, false), tok("urn:b", "", false, true))},
		"search AND":           {ident(tok("urn:a", "1", false, false)), gender},
		"search _id":           {idc},
		"search _id AND token": {gender, idc},
		"search everything":    nil,
	}
	type stmt struct {
		sql  string
		args []any
	}
	stmts := map[string]stmt{
		"read":  {readSQL, []any{"Patient", "p1"}},
		"vread": {vreadSQL, []any{"Patient", "p1", 1}},
		// The writer's lookups; its inserts are point inserts by construction.
		"latest version": {latestSQL, []any{"Patient", "p1"}},
		"delete tokens":  {deleteTokensSQL, []any{"Patient", "p1"}},
	}
	for name, where := range searches {
		m, err := compileMatch(store.Query{Types: []string{"Patient"}, Where: where})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		q, args := m.pageSQL("Patient", "p1", 21)
		stmts[name] = stmt{q, args}
		q, args = m.countSQL()
		stmts[name+" total"] = stmt{q, args}
	}
	pos := &historyPos{lastUpdated: time.Now().UnixNano(), seq: 10, high: 100}
	since := time.Now().Add(-time.Hour)
	for name, q := range map[string]store.HistoryQuery{
		"instance": {Type: "Patient", ID: "p1"},
		"type":     {Type: "Patient"},
		"system":   {},
		"since":    {Type: "Patient", Since: since},
		"at":       {At: since},
	} {
		q.Count = 20
		for _, p := range []*historyPos{nil, pos} {
			query, args := historySQL(q, p)
			stmts[fmt.Sprintf("history %s (cursor %v)", name, p != nil)] = stmt{query, args}
		}
	}
	// The steps that make the hot statements fast, beyond the absence of scans.
	want := map[string]string{
		"read":                       "SEARCH r USING PRIMARY KEY (type=? AND id=?)",
		"search code":                "SEARCH t USING COVERING INDEX tokens_by_code (type=? AND param=? AND code=? AND id>?)",
		"search system|code":         "SEARCH t USING COVERING INDEX tokens_by_code (type=? AND param=? AND code=? AND id>?)",
		"search system|":             "SEARCH t USING COVERING INDEX tokens_by_system (type=? AND param=? AND system=? AND id>?)",
		"search AND":                 "SEARCH x EXISTS USING COVERING INDEX tokens_by_code (type=? AND param=? AND code=? AND id=?)",
		"history type (cursor true)": "SEARCH v USING INDEX versions_by_type_time (type=? AND last_updated<?)",
	}
	for name, st := range stmts {
		plan := explain(t, s, st.sql, st.args)
		if w, ok := want[name]; ok && !slices.Contains(plan, w) {
			t.Errorf("%s: plan lacks %q:\n  %s", name, w, strings.Join(plan, "\n  "))
		}
		for _, line := range plan {
			if scansTable(line) && !(name == "history system (cursor false)" && line == systemHistoryWalk) {
				t.Errorf("%s scans: %s\nplan:\n  %s", name, line, strings.Join(plan, "\n  "))
			}
		}
		if testing.Verbose() {
			t.Logf("%s:\n  %s", name, strings.Join(plan, "\n  "))
		}
	}
}

// systemHistoryWalk is the one scan allowed: the first page of unbounded system history walks
// the time index backwards from its newest entry and stops after Count+1 rows.
const systemHistoryWalk = "SCAN v USING INDEX versions_by_time"

// scansTable reports whether a plan step reads a whole table or index. Steps that scan a
// subquery's result (already bounded) or a constant row are not table scans.
func scansTable(step string) bool {
	rest, ok := strings.CutPrefix(step, "SCAN ")
	if !ok {
		return false
	}
	name, _, _ := strings.Cut(rest, " ")
	switch name {
	case "versions", "resources", "tokens", "v", "r", "t", "x", "s":
		return true
	}
	return false
}

// explain returns the detail column of EXPLAIN QUERY PLAN, one line per step.
func explain(t *testing.T, s *Store, query string, args []any) []string {
	t.Helper()
	rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatalf("EXPLAIN %s: %v", query, err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	return plan
}

// seedPlanData writes a few hundred versions so the planner sees tables that are not empty.
func seedPlanData(t *testing.T, s *Store) {
	t.Helper()
	lu := time.Now()
	var writes []store.Write
	for i := range 300 {
		writes = append(writes, store.Write{Op: store.OpCreate, Type: "Patient", ID: fmt.Sprintf("p%d", i),
			Version: 1, LastUpdated: lu, Body: []byte(`{}`), Index: []store.IndexEntry{
				{Param: "identifier", Kind: store.KindToken, System: "urn:a", Code: fmt.Sprint(i % 7)},
				{Param: "gender", Kind: store.KindToken, System: "g", Code: []string{"male", "female"}[i%2]},
			}})
	}
	if err := s.Write(t.Context(), writes...); err != nil {
		t.Fatalf("Write: %v", err)
	}
}
