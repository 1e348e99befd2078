package storetest

import (
	"fmt"
	"testing"

	"github.com/portico-health/portico/store"
)

// AnyOf: an OR of groups of clauses, which is how an access token's reach is added to a
// search (a patient's Observations are those whose subject OR performer is the patient).

func init() {
	searchTests = append(searchTests,
		test{"AnyOf", testSearchAnyOf},
		test{"AnyOfPaging", testSearchAnyOfPaging},
	)
}

func anyOf(groups ...[]store.Clause) store.Clause {
	if groups == nil {
		groups = [][]store.Clause{} // AnyOf set, with no group
	}
	return store.Clause{AnyOf: groups}
}

func group(clauses ...store.Clause) []store.Clause { return clauses }

// typeClause is the _type condition the guard puts in each group of a search of several types.
func typeClause(types ...string) store.Clause {
	c := store.Clause{Param: "_type", Kind: store.KindToken}
	for _, t := range types {
		c.Values = append(c.Values, store.Value{Code: t})
	}
	return c
}

func refTo(param, typ, id string) store.Clause {
	return clause(param, store.KindReference, 0, refv(typ, id))
}

func testSearchAnyOf(t *testing.T, s *handle) {
	vital, lab := tok("category", "cat", "vital-signs"), tok("category", "cat", "laboratory")
	writeAll(t, s, []store.Write{
		create("Patient", "p1", at(1)),
		create("Patient", "p2", at(1)),
		create("Patient", "p3", at(1)),
		create("Observation", "o1", at(1), ref("subject", "Patient", "p1"), vital),
		create("Observation", "o2", at(1), ref("performer", "Patient", "p1"), lab),
		create("Observation", "o3", at(1), ref("subject", "Patient", "p2"), ref("performer", "Patient", "p1"), vital),
		create("Observation", "o4", at(1), ref("subject", "Patient", "p2"), lab),
		create("Observation", "o5", at(1), ref("subject", "Patient", "p1"), vital),
		del("Observation", "o5", 2, at(2)),
		create("Observation", "o6", at(1), ref("subject", "Patient", "p1"), ref("performer", "Patient", "p1"), lab),
		create("Observation", "o7", at(1), ref("subject", "Group", "p1"), vital), // p1 as a Group id: not the patient
		create("Group", "g1", at(1), ref("subject", "Patient", "p1")),
	})
	ok := func(id string) string { return key("Observation", id, 1) }
	obs := []string{"Observation"}
	subj, perf := refTo("subject", "Patient", "p1"), refTo("performer", "Patient", "p1")
	compartment := anyOf(group(subj), group(perf))
	cat := func(c string) store.Clause { return tokens("category", sysCode("cat", c)) }
	runCases(t, s, []searchCase{
		{"subject OR performer", obs, []store.Clause{compartment}, []string{ok("o1"), ok("o2"), ok("o3"), ok("o6")}},
		{"OR AND a clause", obs, []store.Clause{compartment, cat("vital-signs")}, []string{ok("o1"), ok("o3")}},
		{"clause AND OR", obs, []store.Clause{cat("laboratory"), compartment}, []string{ok("o2"), ok("o6")}},
		{"groups of several clauses", obs, []store.Clause{anyOf(group(subj, cat("vital-signs")), group(perf, cat("laboratory")))},
			[]string{ok("o1"), ok("o2"), ok("o6")}},
		{"nested OR", obs, []store.Clause{anyOf(group(compartment, cat("vital-signs")), group(refTo("subject", "Patient", "p2"), cat("laboratory")))},
			[]string{ok("o1"), ok("o3"), ok("o4")}},
		{"one group", obs, []store.Clause{anyOf(group(perf))}, []string{ok("o2"), ok("o3"), ok("o6")}},
		{"two ORs", obs, []store.Clause{compartment, anyOf(group(cat("laboratory")), group(refTo("subject", "Patient", "p2")))},
			[]string{ok("o2"), ok("o3"), ok("o6")}},
		{"no group matches nothing", obs, []store.Clause{anyOf()}, nil},
		{"an empty group matches everything", obs, []store.Clause{anyOf(group(), group(perf))},
			[]string{ok("o1"), ok("o2"), ok("o3"), ok("o4"), ok("o6"), ok("o7")}},
		{"a group that cannot be indexed", obs, []store.Clause{anyOf(group(subj), group(missing("subject", store.KindReference, true)))},
			[]string{ok("o1"), ok("o2"), ok("o6")}},
		{"_id groups", nil, []store.Clause{anyOf(group(idClause("p1")), group(idClause("p3")))}, []string{pk("p1"), pk("p3")}},
		{"_id OR reference", []string{"Observation"}, []store.Clause{anyOf(group(idClause("o4")), group(subj))},
			[]string{ok("o1"), ok("o4"), ok("o6")}},
		{"OR of no match", obs, []store.Clause{anyOf(group(refTo("subject", "Patient", "p3")), group(refTo("performer", "Patient", "p3")))}, nil},
		{"OR under a chain", []string{"Group"}, []store.Clause{{Param: "subject", Kind: store.KindReference,
			Chain: &store.Query{Types: []string{"Patient"}, Where: []store.Clause{anyOf(group(idClause("p1")), group(idClause("p2")))}}}},
			[]string{key("Group", "g1", 1)}},
		{"_type: a group per type", []string{"Observation", "Group", "Patient"},
			[]store.Clause{anyOf(group(typeClause("Observation"), subj), group(typeClause("Group")), group(typeClause("Patient"), idClause("p2")))},
			[]string{key("Group", "g1", 1), ok("o1"), ok("o6"), pk("p2")}},
		{"_type with several types", []string{""}, []store.Clause{typeClause("Group", "Patient")},
			[]string{key("Group", "g1", 1), pk("p1"), pk("p2"), pk("p3")}},
		{"_type of no type searched", []string{"Observation"}, []store.Clause{typeClause("Patient")}, nil},
		{"_type under a chain", []string{"Group"}, []store.Clause{{Param: "subject", Kind: store.KindReference,
			Chain: &store.Query{Types: []string{"Patient"}, Where: []store.Clause{anyOf(group(typeClause("Observation")), group(typeClause("Patient"), idClause("p1")))}}}},
			[]string{key("Group", "g1", 1)}},
		{"OR in a _has", nil, []store.Clause{{Has: &store.Has{Type: "Observation", Param: "performer", Where: []store.Clause{anyOf(group(cat("vital-signs")), group(cat("nope")))}}}},
			[]string{pk("p1")}},
	})
}

// testSearchAnyOfPaging pages through a patient's Observations by subject OR performer, sorted
// and not: full pages, each match once, and a Total that counts the OR.
func testSearchAnyOfPaging(t *testing.T, s *handle) {
	var writes []store.Write
	var want []string
	for i := range 40 {
		id := fmt.Sprintf("m%02d", i)
		date := store.IndexEntry{Param: "date", Kind: store.KindDate, Low: float64(i), High: float64(i + 1), SortKey: fmt.Sprintf("%08d", i)}
		var index []store.IndexEntry
		switch i % 4 {
		case 0: // subject
			index = []store.IndexEntry{ref("subject", "Patient", "pp"), date}
		case 1: // performer
			index = []store.IndexEntry{ref("subject", "Patient", "other"), ref("performer", "Patient", "pp"), date}
		case 2: // both: must come back once
			index = []store.IndexEntry{ref("subject", "Patient", "pp"), ref("performer", "Patient", "pp"), date}
		case 3: // another patient's
			index = []store.IndexEntry{ref("subject", "Patient", "other"), date}
		}
		writes = append(writes, create("Observation", id, at(i), index...))
		if i%4 != 3 {
			want = append(want, key("Observation", id, 1))
		}
	}
	writeAll(t, s, writes)
	where := []store.Clause{anyOf(group(refTo("subject", "Patient", "pp")), group(refTo("performer", "Patient", "pp")))}
	desc := make([]string, len(want))
	for i, k := range want {
		desc[len(want)-1-i] = k
	}
	for _, sorted := range []bool{false, true} {
		for _, count := range []int{1, 7, 30, 100} {
			name := fmt.Sprintf("sorted=%v Count=%d", sorted, count)
			q := store.Query{Types: []string{"Observation"}, Where: where, Count: count, Total: true}
			w := want
			if sorted {
				q.Sort, w = []store.Sort{{Param: "date", Desc: true}}, desc
			}
			got := searchPages(t, s, q, func(p store.Page) {
				if p.Total != len(want) {
					t.Errorf("%s: Total %d, want %d", name, p.Total, len(want))
				}
				if p.Next != "" && len(p.Records) != count {
					t.Errorf("%s: a page of %d records before the last, want %d", name, len(p.Records), count)
				}
			})
			equalKeys(t, name, got, w)
		}
	}
}
