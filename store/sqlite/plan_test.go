package sqlite

import (
	"fmt"
	"slices"
	"strings"
	"sync"
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

	type stmt struct {
		sql  string
		args []any
	}
	stmts := map[string]stmt{
		"read":  {readSQL, []any{"Patient", "p1"}},
		"vread": {vreadSQL, []any{"Patient", "p1", 1}},
		// The writer's lookups; its inserts are point inserts by construction.
		"latest version": {latestSQL, []any{"Patient", "p1"}},
		"all types":      {allTypesSQL, nil},
	}
	for _, table := range indexTables {
		stmts["delete "+table] = stmt{deleteIndexSQL(table), []any{1}}
	}
	// Every statement of each search, as Search issues them on the seeded data.
	var mu sync.Mutex
	var current string
	n := 0
	hook := func(f frag) {
		mu.Lock()
		defer mu.Unlock()
		n++
		stmts[fmt.Sprintf("%s #%d", current, n)] = stmt{f.sql, f.args}
	}
	traceHook.Store(&hook)
	defer traceHook.Store(nil)
	for name, q := range planSearches() {
		mu.Lock()
		current, n = name, 0
		mu.Unlock()
		q.Count, q.Total = 20, true
		page, err := s.Search(t.Context(), q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if page.Next == "" && len(page.Records) == 20 {
			t.Errorf("%s: a full page without a next cursor", name)
		}
		if page.Next != "" {
			mu.Lock()
			current, n = name+" (page 2)", 0
			mu.Unlock()
			q.Cursor = page.Next
			if _, err := s.Search(t.Context(), q); err != nil {
				t.Fatalf("%s page 2: %v", name, err)
			}
		}
	}
	traceHook.Store(nil)

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
		"read":                                    "SEARCH versions USING INDEX versions_by_resource (type=? AND id=?)",
		"patient+code sorted by -date #3":         "SEARCH d USING COVERING INDEX refs_by_target (type=? AND ref_id=? AND param=?)",
		"common code sorted by -date #2":          "SEARCH sorts USING COVERING INDEX sorts_unwalked (type=? AND param=?)",
		"common code sorted by -date #3":          "SEARCH s0 USING COVERING INDEX sorts_by_hi (type=? AND param=?)",
		"common code sorted by -date (page 2) #3": "SEARCH s0 USING COVERING INDEX sorts_by_hi (type=? AND param=? AND hi<?)",
		"recipient+status sorted #3":              "SEARCH d USING COVERING INDEX refs_by_target (type=? AND ref_id=? AND param=?)",
		"observation compartment #2":              "SEARCH d USING COVERING INDEX refs_by_target (type=? AND ref_id=? AND param=?)",
		"history type (cursor true)":              "SEARCH v USING INDEX versions_by_type_time (type=? AND last_updated<?)",
		// A token keeps no sort row: the walk reads its codes in order.
		"everything sorted by gender #2":           "SEARCH s0 USING COVERING INDEX tokens_by_code (type=? AND param=? AND code>?)",
		"everything sorted by -gender (page 2) #2": "SEARCH s0 USING COVERING INDEX tokens_by_code (type=? AND param=? AND code>? AND code<?)",
	}
	for name, st := range stmts {
		plan := explain(t, s, st.sql, st.args)
		if w, ok := want[name]; ok && !slices.Contains(plan, w) {
			t.Errorf("%s: plan lacks %q:\n  %s\n%s", name, w, strings.Join(plan, "\n  "), st.sql)
		}
		for _, line := range plan {
			// A co-routine is a subquery's result, bounded by its own plan's steps.
			if name, ok := strings.CutPrefix(line, "SCAN "); ok && slices.Contains(plan, "CO-ROUTINE "+name) {
				continue
			}
			if scansTable(line) && !(name == "history system (cursor false)" && line == systemHistoryWalk) {
				t.Errorf("%s scans: %s\nplan:\n  %s\n%s", name, line, strings.Join(plan, "\n  "), st.sql)
			}
		}
		if testing.Verbose() {
			t.Logf("%s:\n  %s", name, strings.Join(plan, "\n  "))
		}
	}
	for name := range want {
		if _, ok := stmts[name]; !ok {
			t.Errorf("no statement %q", name)
		}
	}
}

// planSearches are the searches of a patient app, on seedPlanData.
func planSearches() map[string]store.Query {
	tok := func(param, sys, code string) store.Clause {
		return store.Clause{Param: param, Kind: store.KindToken, Values: []store.Value{{System: sys, Code: code, AnySystem: sys == ""}}}
	}
	ref := func(param, typ, id string) store.Clause {
		return store.Clause{Param: param, Kind: store.KindReference, Values: []store.Value{{RefType: typ, RefID: id}}}
	}
	date := func(param string, p store.Prefix, lo, hi float64) store.Clause {
		return store.Clause{Param: param, Kind: store.KindDate, Values: []store.Value{{Prefix: p, Low: lo, High: hi}}}
	}
	q := func(typ string, sort []store.Sort, where ...store.Clause) store.Query {
		return store.Query{Types: []string{typ}, Where: where, Sort: sort}
	}
	byDate := []store.Sort{{Param: "date", Desc: true}}
	compartment := func(id string) store.Clause {
		return store.Clause{AnyOf: [][]store.Clause{{ref("subject", "Patient", id)}, {ref("performer", "Patient", id)}}}
	}
	return map[string]store.Query{
		"patient+code sorted by -date":      q("Observation", byDate, ref("patient", "Patient", "p7"), tok("code", "", "c1")),
		"patient+category+date range":       q("Observation", nil, ref("patient", "Patient", "p7"), tok("category", "", "vital-signs"), date("date", store.PrefixGe, 1000, 2000)),
		"common code sorted by -date":       q("Observation", byDate, tok("code", "", "common")),
		"common code, default order":        q("Observation", nil, tok("code", "", "common")),
		"recipient+status sorted":           q("Communication", []store.Sort{{Param: "priority"}, {Param: "sent"}}, ref("recipient", "Patient", "p7"), tok("status", "", "in-progress")),
		"appointment patient+date ge":       q("Appointment", nil, ref("patient", "Patient", "p7"), date("date", store.PrefixGe, 1000, 2000)),
		"patient by name":                   q("Patient", nil, store.Clause{Param: "name", Kind: store.KindString, Values: []store.Value{{Text: "smi"}}}),
		"patient by birthdate":              q("Patient", nil, date("birthdate", store.PrefixEq, 100, 200)),
		"patient by identifier":             q("Patient", nil, tok("identifier", "urn:a", "3")),
		"patient by _id":                    q("Patient", nil, store.Clause{Param: "_id", Kind: store.KindToken, Values: []store.Value{{Code: "p1"}}}),
		"everything":                        q("Patient", nil),
		"everything sorted by _lastUpdated": q("Patient", []store.Sort{{Param: "_lastUpdated", Desc: true}}),
		"everything sorted by gender":       q("Patient", []store.Sort{{Param: "gender"}}),
		"everything sorted by -gender":      q("Patient", []store.Sort{{Param: "gender", Desc: true}}),
		"system search by _id":              {Where: []store.Clause{{Param: "_id", Kind: store.KindToken, Values: []store.Value{{Code: "p1"}}}}},
		// A patient token's reach over Observation (smart.Filter.Clauses): subject OR performer.
		"observation compartment":                 q("Observation", nil, compartment("p7")),
		"observation compartment sorted by -date": q("Observation", byDate, compartment("p7")),
		"observation compartment+category":        q("Observation", nil, compartment("p7"), tok("category", "", "vital-signs")),
		"observation compartment+common code":     q("Observation", byDate, tok("code", "", "common"), compartment("p7")),
		"observation granular compartment": q("Observation", nil, store.Clause{AnyOf: [][]store.Clause{
			{ref("subject", "Patient", "p7"), tok("category", "", "vital-signs")},
			{ref("performer", "Patient", "p7"), tok("category", "", "vital-signs")}}}),
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
	if strings.HasPrefix(name, "(") { // a subquery's result, already bounded
		return false
	}
	switch name {
	case "m", "t", "CONSTANT": // a page's keys, the type list's recursion, a constant row
		return false
	}
	return true
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

// seedPlanData writes a patient app's data: 300 Patients, 2,400 Observations (2,000 of one
// common code, so that it sorts by walking the date index), Communications and Appointments.
func seedPlanData(t *testing.T, s *Store) {
	t.Helper()
	lu := time.Now()
	var writes []store.Write
	add := func(typ, id string, index ...store.IndexEntry) {
		writes = append(writes, store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1, LastUpdated: lu,
			Body: []byte(`{}`), Index: index})
	}
	for i := range 300 {
		add("Patient", fmt.Sprintf("p%d", i),
			store.IndexEntry{Param: "identifier", Kind: store.KindToken, System: "urn:a", Code: fmt.Sprint(i % 7)},
			store.IndexEntry{Param: "gender", Kind: store.KindToken, System: "g", Code: []string{"male", "female"}[i%2], SortKey: []string{"male", "female"}[i%2]},
			store.IndexEntry{Param: "name", Kind: store.KindString, Text: fmt.Sprintf("smith%d", i), Code: fmt.Sprintf("Smith%d", i)},
			store.IndexEntry{Param: "birthdate", Kind: store.KindDate, Low: float64(i), High: float64(i + 1), SortKey: fmt.Sprintf("%08d", i)})
	}
	for i := range 2400 {
		p := fmt.Sprintf("p%d", i%300)
		code := "common"
		if i%6 == 0 {
			code = fmt.Sprintf("c%d", i%5)
		}
		add("Observation", fmt.Sprintf("o%d", i),
			store.IndexEntry{Param: "patient", Kind: store.KindReference, RefType: "Patient", RefID: p},
			store.IndexEntry{Param: "subject", Kind: store.KindReference, RefType: "Patient", RefID: p},
			store.IndexEntry{Param: "code", Kind: store.KindToken, System: "http://loinc.org", Code: code},
			store.IndexEntry{Param: "category", Kind: store.KindToken, System: "cat", Code: "vital-signs"},
			store.IndexEntry{Param: "date", Kind: store.KindDate, Low: float64(i), High: float64(i + 1), SortKey: fmt.Sprintf("%08d", i)})
	}
	for i := range 600 {
		p := fmt.Sprintf("p%d", i%300)
		add("Communication", fmt.Sprintf("c%d", i),
			store.IndexEntry{Param: "recipient", Kind: store.KindReference, RefType: "Patient", RefID: p},
			store.IndexEntry{Param: "status", Kind: store.KindToken, System: "s", Code: []string{"in-progress", "completed"}[i%2]},
			store.IndexEntry{Param: "priority", Kind: store.KindToken, System: "p", Code: "routine", SortKey: fmt.Sprint(i % 4)},
			store.IndexEntry{Param: "sent", Kind: store.KindDate, Low: float64(i), High: float64(i + 1), SortKey: fmt.Sprintf("%08d", i)})
		add("Appointment", fmt.Sprintf("a%d", i),
			store.IndexEntry{Param: "patient", Kind: store.KindReference, RefType: "Patient", RefID: p},
			store.IndexEntry{Param: "date", Kind: store.KindDate, Low: float64(i), High: float64(i + 1), SortKey: fmt.Sprintf("%08d", i)})
	}
	for len(writes) > 0 {
		n := min(len(writes), 500)
		if err := s.Write(t.Context(), writes[:n]...); err != nil {
			t.Fatalf("Write: %v", err)
		}
		writes = writes[n:]
	}
}
