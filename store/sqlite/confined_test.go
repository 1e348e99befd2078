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

// TestConfinedSearchesDrive: the searches of a confined caller, as the guard writes them (its
// policy's clauses ANDed in: an OR of one group per type with the types it sees whole, chains
// through the patient's organization and _has over PractitionerRole), are driven by the
// caller's own data, not answered by walking every resource of the searched types: their cost
// must not grow with what the caller cannot see (issue: a patient's multi-type search took 2 s
// with 20,000 other patients' resources). Each must also find exactly the caller's matches.
func TestConfinedSearchesDrive(t *testing.T) {
	s, err := Open(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lu := time.Now()
	var writes []store.Write
	add := func(typ, id string, index ...store.IndexEntry) {
		lu = lu.Add(time.Microsecond)
		writes = append(writes, store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1, LastUpdated: lu,
			Body: []byte(`{}`), Index: index})
	}
	ref := func(param, typ, id string) store.IndexEntry {
		return store.IndexEntry{Param: param, Kind: store.KindReference, RefType: typ, RefID: id}
	}
	add("Organization", "orgA")
	add("Organization", "orgB")
	add("PractitionerRole", "roleA", ref("practitioner", "Practitioner", "drA"), ref("organization", "Organization", "orgA"))
	add("Patient", "pA", ref("organization", "Organization", "orgA"))
	add("Observation", "oA", ref("subject", "Patient", "pA"), ref("patient", "Patient", "pA"))
	code := func(c string) store.IndexEntry {
		return store.IndexEntry{Param: "code", Kind: store.KindToken, System: "http://loinc.org", Code: c}
	}
	// A patient with more than a page's worth of their own (past driveThreshold).
	add("Patient", "pBig", ref("organization", "Organization", "orgA"))
	for i := range 600 {
		add("Observation", fmt.Sprintf("oBig%d", i), ref("subject", "Patient", "pBig"), ref("patient", "Patient", "pBig"), code("8867-4"))
	}
	// What the callers must not see, and must not pay for: 3,000 Observations of another
	// clinic's patients.
	for i := range 30 {
		add("Patient", fmt.Sprintf("pB%d", i), ref("organization", "Organization", "orgB"))
	}
	for i := range 3000 {
		p := fmt.Sprintf("pB%d", i%30)
		add("Observation", fmt.Sprintf("oB%d", i), ref("subject", "Patient", p), ref("patient", "Patient", p), code("718-7"))
	}
	if err := s.Write(t.Context(), writes...); err != nil {
		t.Fatal(err)
	}

	typeIs := func(typ string) store.Clause {
		return store.Clause{Param: typeParam, Kind: store.KindToken, Values: []store.Value{{Code: typ}}}
	}
	refTo := func(param, typ, id string) store.Clause {
		return store.Clause{Param: param, Kind: store.KindReference, Values: []store.Value{{RefType: typ, RefID: id}}}
	}
	// The patient pA's multi-type search: its compartment's clauses for Observation and
	// Patient, Organization and PractitionerRole seen whole (directory types).
	patientSearch := store.Query{Types: []string{"Observation", "Organization", "Patient", "PractitionerRole"},
		Where: []store.Clause{{Reach: true, AnyOf: [][]store.Clause{
			{typeIs("Observation"), {AnyOf: [][]store.Clause{{refTo("subject", "Patient", "pA")}, {refTo("patient", "Patient", "pA")}}}},
			{typeIs("Organization")},
			{typeIs("Patient"), {Param: idParam, Kind: store.KindToken, Values: []store.Value{{Code: "pA"}}}},
			{typeIs("PractitionerRole")},
		}}}}
	// The practitioner drA (staff reach: their organizations' patients) searching Observation.
	ofMyOrgs := store.Clause{Param: "organization", Kind: store.KindReference, Chain: &store.Query{Types: []string{"Organization"},
		Where: []store.Clause{{Param: "_has", Has: &store.Has{Type: "PractitionerRole", Param: "organization",
			Where: []store.Clause{refTo("practitioner", "Practitioner", "drA")}}}}}}
	staffReach := store.Clause{Reach: true, AnyOf: [][]store.Clause{
		{{Param: "subject", Kind: store.KindReference, Chain: &store.Query{Types: []string{"Patient"}, Where: []store.Clause{ofMyOrgs}}}},
		{{Param: "patient", Kind: store.KindReference, Chain: &store.Query{Types: []string{"Patient"}, Where: []store.Clause{ofMyOrgs}}}},
	}}
	staffSearch := store.Query{Types: []string{"Observation"}, Where: []store.Clause{staffReach}}
	// A code that only hidden Observations carry, by the thousand: both the code and the
	// caller's reach match more than driveThreshold, and the walk of every Observation would
	// be the usual plan. The caller's reach drives instead.
	staffCount := store.Query{Types: []string{"Observation"}, Total: true, Where: []store.Clause{
		{Param: "code", Kind: store.KindToken, Values: []store.Value{{System: "http://loinc.org", Code: "718-7"}}}, staffReach}}

	// A patient's search of their own record with a _has over a code only hidden data carries:
	// the estimate of the _has alone would walk those 3,000 Observations.
	hasHidden := store.Query{Types: []string{"Patient"}, Where: []store.Clause{
		{Param: "_has", Has: &store.Has{Type: "Observation", Param: "subject", Where: []store.Clause{
			{Param: "code", Kind: store.KindToken, Values: []store.Value{{System: "http://loinc.org", Code: "718-7"}}}}}},
		{Reach: true, AnyOf: [][]store.Clause{{{Param: idParam, Kind: store.KindToken, Values: []store.Value{{Code: "pA"}}}}}},
	}}
	staffSees := []string{"Observation/oA"}
	for i := range 600 {
		staffSees = append(staffSees, fmt.Sprintf("Observation/oBig%d", i))
	}
	slices.Sort(staffSees)

	var mu sync.Mutex
	var stmts []string
	var frags []frag
	hook := func(f frag) { mu.Lock(); stmts = append(stmts, f.sql); frags = append(frags, f); mu.Unlock() }
	traceHook.Store(&hook)
	defer traceHook.Store(nil)
	for name, c := range map[string]struct {
		q    store.Query
		want []string
	}{
		"patient, several types":                    {patientSearch, []string{"Observation/oA", "Organization/orgA", "Organization/orgB", "Patient/pA", "PractitionerRole/roleA"}},
		"practitioner, chain and _has":              {staffSearch, staffSees},
		"practitioner, a code only hidden data has": {staffCount, nil},
		"patient, _has over hidden data":            {hasHidden, nil},
	} {
		mu.Lock()
		stmts, frags = nil, nil
		mu.Unlock()
		c.q.Count = 1000
		page, err := s.Search(t.Context(), c.q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, r := range page.Records {
			got = append(got, r.Type+"/"+r.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
		driven, estimates := false, 0
		mu.Lock()
		for _, sql := range stmts {
			if strings.HasPrefix(sql, "SELECT count(*) FROM (") {
				estimates++
			}
		}
		if estimates > 1 && name == "patient, _has over hidden data" {
			t.Errorf("%s: %d estimates; want the caller's reach alone", name, estimates)
		}
		for _, sql := range stmts {
			if !strings.HasPrefix(sql, "SELECT count(*)") && (strings.Contains(sql, "r.rid IN (") || strings.Contains(sql, "SELECT DISTINCT")) {
				driven = true
			}
		}
		mu.Unlock()
		if !driven {
			t.Errorf("%s: not driven by the caller's data (walks every resource of its types)", name)
		}
		// And no statement of it scans a table or an index: every step is keyed by the
		// caller's own rows (as TestQueryPlans checks of a patient app's searches).
		for _, f := range frags {
			plan := explain(t, s, f.sql, f.args)
			for _, line := range plan {
				if name, ok := strings.CutPrefix(line, "SCAN "); ok && slices.Contains(plan, "CO-ROUTINE "+name) {
					continue
				}
				// By type alone only the types the caller sees whole (typeDrive).
				byTypeAlone := strings.HasSuffix(line, "(type=?)") && !strings.Contains(line, "resources_by_updated")
				if scansTable(line) || byTypeAlone {
					t.Errorf("%s scans: %s\nplan:\n  %s\n%s", name, line, strings.Join(plan, "\n  "), f.sql)
				}
			}
		}
	}
}

// TestLongIDLists: a clause of more ids than SQLite takes arguments (a confined user's patients,
// in every parameter of every type of a search) is bound as one JSON array, and finds the same.
func TestLongIDLists(t *testing.T) {
	s, err := Open(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var writes []store.Write
	now := time.Now()
	for i := range 40 {
		writes = append(writes, store.Write{Op: store.OpCreate, Type: "Observation", ID: fmt.Sprintf("o%d", i), Version: 1, LastUpdated: now,
			Body: []byte(`{}`), Index: []store.IndexEntry{{Param: "subject", Kind: store.KindReference, RefType: "Patient", RefID: fmt.Sprintf("p%d", i)}}})
	}
	if err := s.Write(t.Context(), writes...); err != nil {
		t.Fatal(err)
	}
	refs := store.Clause{Param: "subject", Kind: store.KindReference}
	ids := store.Clause{Param: idParam, Kind: store.KindToken}
	for i := range 40_000 { // past SQLite's 32,766 arguments, twice
		if i%2 == 0 {
			refs.Values = append(refs.Values, store.Value{RefType: "Patient", RefID: fmt.Sprintf("p%d", i/1000)})
		}
		ids.Values = append(ids.Values, store.Value{Code: fmt.Sprintf("o%d", i%1000)})
	}
	for name, where := range map[string][]store.Clause{"references": {refs}, "ids": {ids}, "both": {refs, ids}} {
		page, err := s.Search(t.Context(), store.Query{Types: []string{"Observation"}, Where: where, Count: 100, Total: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if page.Total != 40 {
			t.Errorf("%s: total %d, want 40", name, page.Total)
		}
	}
}
