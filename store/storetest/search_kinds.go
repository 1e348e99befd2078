package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// The search section: every parameter kind, modifier and prefix, chains, _has, sort, paging
// and system search, on hand-built index entries (no FHIR extraction involved).

func init() {
	searchTests = append(searchTests,
		test{"TokenModifiers", testSearchTokenModifiers},
		test{"Strings", testSearchStrings},
		test{"References", testSearchReferences},
		test{"Ranges", testSearchRanges},
		test{"Quantities", testSearchQuantities},
		test{"URIs", testSearchURIs},
		test{"Composites", testSearchComposites},
		test{"Chains", testSearchChains},
		test{"Has", testSearchHas},
		test{"LastUpdated", testSearchLastUpdated},
		test{"System", testSearchSystem},
		test{"Sort", testSearchSort},
		test{"SortByReferenceAndIdentifier", testSearchSortReferences},
		test{"SortByTokenCodeTextAndRank", testSearchSortTokens},
		test{"PagingUnderInserts", testSearchPagingUnderInserts},
	)
}

// searchCase is one search and the keys it must return, in order.
type searchCase struct {
	name  string
	types []string
	where []store.Clause
	want  []string
}

// runCases runs each case, checking its records, order and Total.
func runCases(t *testing.T, s store.Store, cases []searchCase) {
	t.Helper()
	for _, c := range cases {
		types := c.types
		if types == nil {
			types = []string{"Patient"}
		}
		if len(types) == 1 && types[0] == "" {
			types = nil
		}
		page, err := s.Search(t.Context(), store.Query{Types: types, Where: c.where, Count: 100, Total: true})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		equalKeys(t, c.name, keys(page.Records), c.want)
		if page.Total != len(c.want) {
			t.Errorf("%s: Total %d, want %d", c.name, page.Total, len(c.want))
		}
	}
}

func clause(param string, kind store.ParamKind, mod store.Modifier, values ...store.Value) store.Clause {
	return store.Clause{Param: param, Kind: kind, Modifier: mod, Values: values}
}

func missing(param string, kind store.ParamKind, m bool) store.Clause {
	return store.Clause{Param: param, Kind: kind, Modifier: store.ModMissing, Missing: m}
}

func pk(id string) string { return key("Patient", id, 1) }

func testSearchTokenModifiers(t *testing.T, s *handle) {
	withText := func(param, sys, code, text string) store.IndexEntry {
		e := tok(param, sys, code)
		e.Text = text
		return e
	}
	writeAll(t, s, []store.Write{
		create("Patient", "a", at(1), withText("code", "http://loinc.org", "1", "body weight"), tok("status", "s", "final"),
			withText("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "12345")),
		create("Patient", "b", at(1), withText("code", "http://loinc.org", "2", "body height"), tok("status", "s", "amended"),
			tok("status", "s", "final")),
		create("Patient", "c", at(1), withText("code", "http://snomed.info/sct", "3", "heart rate"),
			withText("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "999")),
	})
	ofType := store.Value{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: "12345"}
	runCases(t, s, []searchCase{
		{"token :not", nil, []store.Clause{clause("status", store.KindToken, store.ModNot, code("amended"))}, []string{pk("a"), pk("c")}},
		{"token :not of an absent code", nil, []store.Clause{clause("status", store.KindToken, store.ModNot, code("nope"))}, []string{pk("a"), pk("b"), pk("c")}},
		{"token :not OR", nil, []store.Clause{clause("status", store.KindToken, store.ModNot, code("amended"), code("final"))}, []string{pk("c")}},
		{"token :text starts-with", nil, []store.Clause{clause("code", store.KindToken, store.ModText, store.Value{Text: "body"})}, []string{pk("a"), pk("b")}},
		{"token :text no match", nil, []store.Clause{clause("code", store.KindToken, store.ModText, store.Value{Text: "rate"})}, nil},
		{"token :of-type", nil, []store.Clause{clause("identifier", store.KindToken, store.ModOfType, ofType)}, []string{pk("a")}},
		{"token :missing=true", nil, []store.Clause{missing("status", store.KindToken, true)}, []string{pk("c")}},
		{"token :missing=false", nil, []store.Clause{missing("status", store.KindToken, false)}, []string{pk("a"), pk("b")}},
		{"token system| AND :not", nil, []store.Clause{tokens("code", anyCode("http://loinc.org")),
			clause("status", store.KindToken, store.ModNot, code("amended"))}, []string{pk("a")}},
		{"_id :not", nil, []store.Clause{{Param: "_id", Kind: store.KindToken, Modifier: store.ModNot, Values: []store.Value{{Code: "a"}}}}, []string{pk("b"), pk("c")}},
	})
}

func str(param, text, asWritten string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindString, Text: text, Code: asWritten}
}

func testSearchStrings(t *testing.T, s *handle) {
	writeAll(t, s, []store.Write{
		create("Patient", "a", at(1), str("name", "smith", "Smith"), str("name", "john", "John")),
		create("Patient", "b", at(1), str("name", "smithson", "Smithson")),
		create("Patient", "c", at(1), str("name", "goldsmith", "Goldsmith")),
		create("Patient", "d", at(1), str("name", "muller", "Müller")),
		create("Patient", "e", at(1)),
	})
	strv := func(s string) store.Value { return store.Value{Text: s} }
	runCases(t, s, []searchCase{
		{"starts-with", nil, []store.Clause{clause("name", store.KindString, 0, strv("smith"))}, []string{pk("a"), pk("b")}},
		{"whole value", nil, []store.Clause{clause("name", store.KindString, 0, strv("smithson"))}, []string{pk("b")}},
		{"OR", nil, []store.Clause{clause("name", store.KindString, 0, strv("jo"), strv("gold"))}, []string{pk("a"), pk("c")}},
		{"AND of two names", nil, []store.Clause{clause("name", store.KindString, 0, strv("smi")), clause("name", store.KindString, 0, strv("jo"))}, []string{pk("a")}},
		{":exact", nil, []store.Clause{clause("name", store.KindString, store.ModExact, strv("Smith"))}, []string{pk("a")}},
		{":exact is case-sensitive", nil, []store.Clause{clause("name", store.KindString, store.ModExact, strv("smith"))}, nil},
		{":exact with accents", nil, []store.Clause{clause("name", store.KindString, store.ModExact, strv("Müller"))}, []string{pk("d")}},
		{":contains", nil, []store.Clause{clause("name", store.KindString, store.ModContains, strv("mit"))}, []string{pk("a"), pk("b"), pk("c")}},
		{":missing=true", nil, []store.Clause{missing("name", store.KindString, true)}, []string{pk("e")}},
		{":missing=false", nil, []store.Clause{missing("name", store.KindString, false)}, []string{pk("a"), pk("b"), pk("c"), pk("d")}},
	})
}

func ref(param, typ, id string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindReference, RefType: typ, RefID: id}
}

func refv(typ, id string) store.Value { return store.Value{RefType: typ, RefID: id} }

func testSearchReferences(t *testing.T, s *handle) {
	withIdent := ref("subject", "Patient", "p2")
	withIdent.System, withIdent.Code = "urn:mrn", "M-2"
	writeAll(t, s, []store.Write{
		create("Observation", "o1", at(1), ref("subject", "Patient", "p1")),
		create("Observation", "o2", at(1), withIdent),
		create("Observation", "o3", at(1), ref("subject", "Group", "p1")),
		create("Observation", "o4", at(1), store.IndexEntry{Param: "subject", Kind: store.KindReference, RefURL: "https://other.example/fhir/Patient/9"}),
		create("Observation", "o5", at(1)),
	})
	ok := func(id string) string { return key("Observation", id, 1) }
	obs := []string{"Observation"}
	runCases(t, s, []searchCase{
		{"Type/id", obs, []store.Clause{clause("subject", store.KindReference, 0, refv("Patient", "p1"))}, []string{ok("o1")}},
		{"bare id is any type", obs, []store.Clause{clause("subject", store.KindReference, 0, refv("", "p1"))}, []string{ok("o1"), ok("o3")}},
		{"other type", obs, []store.Clause{clause("subject", store.KindReference, 0, refv("Group", "p1"))}, []string{ok("o3")}},
		{"OR", obs, []store.Clause{clause("subject", store.KindReference, 0, refv("Patient", "p1"), refv("Patient", "p2"))}, []string{ok("o1"), ok("o2")}},
		{"absolute URL", obs, []store.Clause{clause("subject", store.KindReference, 0, store.Value{RefURL: "https://other.example/fhir/Patient/9"})}, []string{ok("o4")}},
		{":identifier", obs, []store.Clause{clause("subject", store.KindReference, store.ModIdentifier, store.Value{System: "urn:mrn", Code: "M-2"})}, []string{ok("o2")}},
		{":identifier any system", obs, []store.Clause{clause("subject", store.KindReference, store.ModIdentifier, store.Value{Code: "M-2", AnySystem: true})}, []string{ok("o2")}},
		{":missing=true", obs, []store.Clause{missing("subject", store.KindReference, true)}, []string{ok("o5")}},
		{":missing=false", obs, []store.Clause{missing("subject", store.KindReference, false)}, []string{ok("o1"), ok("o2"), ok("o3"), ok("o4")}},
		{"any resource of a type", obs, []store.Clause{clause("subject", store.KindReference, 0, refv("Patient", ""))}, []string{ok("o1"), ok("o2")}},
		{":not any resource of a type", obs, []store.Clause{clause("subject", store.KindReference, store.ModNot, refv("Patient", ""))}, []string{ok("o3"), ok("o4"), ok("o5")}},
		{":not Type/id", obs, []store.Clause{clause("subject", store.KindReference, store.ModNot, refv("Patient", "p1"))}, []string{ok("o2"), ok("o3"), ok("o4"), ok("o5")}},
	})
}

// testSearchRanges checks every prefix on dates and numbers against Prefix.Matches, the
// contract's reference: a resource matches when any of its entries does.
func testSearchRanges(t *testing.T, s *handle) {
	targets := [][][2]float64{ // per resource, its entries' ranges
		{{0, 10}}, {{10, 20}}, {{20, 30}}, {{5, 15}}, {{0, 30}}, {{12, 13}}, {{100, 101}},
		{{-50, -40}}, {{9, 11}, {25, 26}}, {{10, 10.5}},
	}
	var writes []store.Write
	for i, ranges := range targets {
		var index []store.IndexEntry
		for _, r := range ranges {
			index = append(index,
				store.IndexEntry{Param: "date", Kind: store.KindDate, Low: r[0], High: r[1]},
				store.IndexEntry{Param: "value", Kind: store.KindNumber, Low: r[0], High: r[1]})
		}
		writes = append(writes, create("Patient", fmt.Sprintf("r%02d", i), at(1), index...))
	}
	writes = append(writes, create("Patient", "r99", at(1))) // no date at all
	writeAll(t, s, writes)

	searches := [][2]float64{{10, 20}, {0, 10}, {12, 13}, {9, 11}, {-45, -44}, {95, 105}, {10, 10.5}}
	prefixes := map[store.Prefix]string{store.PrefixEq: "eq", store.PrefixNe: "ne", store.PrefixGt: "gt",
		store.PrefixLt: "lt", store.PrefixGe: "ge", store.PrefixLe: "le", store.PrefixSa: "sa",
		store.PrefixEb: "eb", store.PrefixAp: "ap"}
	var cases []searchCase
	for p, name := range prefixes {
		for _, sr := range searches {
			var want []string
			for i, ranges := range targets {
				if slices.ContainsFunc(ranges, func(r [2]float64) bool { return p.Matches(sr[0], sr[1], r[0], r[1]) }) {
					want = append(want, pk(fmt.Sprintf("r%02d", i)))
				}
			}
			v := store.Value{Prefix: p, Low: sr[0], High: sr[1]}
			for _, kind := range []store.ParamKind{store.KindDate, store.KindNumber} {
				param := map[store.ParamKind]string{store.KindDate: "date", store.KindNumber: "value"}[kind]
				cases = append(cases, searchCase{fmt.Sprintf("%s %s[%v,%v)", param, name, sr[0], sr[1]), nil,
					[]store.Clause{clause(param, kind, 0, v)}, want})
			}
		}
	}
	cases = append(cases,
		searchCase{"date AND range", nil, []store.Clause{
			clause("date", store.KindDate, 0, store.Value{Prefix: store.PrefixGe, Low: 10, High: 11}),
			clause("date", store.KindDate, 0, store.Value{Prefix: store.PrefixLt, Low: 20, High: 21})},
			[]string{pk("r01"), pk("r03"), pk("r04"), pk("r05"), pk("r08"), pk("r09")}},
		searchCase{"date OR", nil, []store.Clause{clause("date", store.KindDate, 0,
			store.Value{Low: 100, High: 101}, store.Value{Low: -50, High: -40})}, []string{pk("r06"), pk("r07")}},
		searchCase{"date :missing", nil, []store.Clause{missing("date", store.KindDate, true)}, []string{pk("r99")}},
	)
	runCases(t, s, cases)
}

func testSearchQuantities(t *testing.T, s *handle) {
	q := func(lo, hi float64, sys, unit string) store.IndexEntry {
		return store.IndexEntry{Param: "value-quantity", Kind: store.KindQuantity, Low: lo, High: hi, System: sys, Code: unit}
	}
	ucum := "http://unitsofmeasure.org"
	writeAll(t, s, []store.Write{
		create("Patient", "a", at(1), q(4.95, 5.05, ucum, "mg")),
		create("Patient", "b", at(1), q(4.95, 5.05, ucum, "g")),
		create("Patient", "c", at(1), q(4.95, 5.05, "urn:other", "mg")),
		create("Patient", "d", at(1), q(9.5, 10.5, ucum, "mg")),
	})
	qv := func(p store.Prefix, lo, hi float64, sys, unit string, anySys, anyCode bool) store.Value {
		return store.Value{Prefix: p, Low: lo, High: hi, System: sys, Code: unit, AnySystem: anySys, AnyCode: anyCode}
	}
	c := func(v store.Value) []store.Clause {
		return []store.Clause{clause("value-quantity", store.KindQuantity, 0, v)}
	}
	runCases(t, s, []searchCase{
		{"system|unit", nil, c(qv(0, 4.95, 5.05, ucum, "mg", false, false)), []string{pk("a")}},
		{"unit in any system", nil, c(qv(0, 4.95, 5.05, "", "mg", true, false)), []string{pk("a"), pk("c")}},
		{"no unit", nil, c(qv(0, 4.95, 5.05, "", "", true, true)), []string{pk("a"), pk("b"), pk("c")}},
		{"gt with unit", nil, c(qv(store.PrefixGt, 5.95, 6.05, ucum, "mg", false, false)), []string{pk("d")}},
		{"le with unit", nil, c(qv(store.PrefixLe, 9.95, 10.05, "", "mg", true, false)), []string{pk("a"), pk("c"), pk("d")}},
	})
}

func testSearchURIs(t *testing.T, s *handle) {
	u := func(v string) store.IndexEntry { return store.IndexEntry{Param: "url", Kind: store.KindURI, Text: v} }
	writeAll(t, s, []store.Write{
		create("Patient", "a", at(1), u("http://acme.org/fhir/ValueSet/123")),
		create("Patient", "b", at(1), u("http://acme.org/fhir/ValueSet/123/_history/5")),
		create("Patient", "c", at(1), u("http://acme.org/fhir")),
		create("Patient", "d", at(1), u("urn:oid:1.2.3")),
	})
	uv := func(v string) store.Value { return store.Value{Text: v} }
	runCases(t, s, []searchCase{
		{"exact", nil, []store.Clause{clause("url", store.KindURI, 0, uv("http://acme.org/fhir/ValueSet/123"))}, []string{pk("a")}},
		{"exact is not a prefix", nil, []store.Clause{clause("url", store.KindURI, 0, uv("http://acme.org/fhir/ValueSet"))}, nil},
		{":below", nil, []store.Clause{clause("url", store.KindURI, store.ModBelow, uv("http://acme.org/fhir/ValueSet"))}, []string{pk("a"), pk("b")}},
		{":above", nil, []store.Clause{clause("url", store.KindURI, store.ModAbove, uv("http://acme.org/fhir/ValueSet/123/_history/5"))}, []string{pk("a"), pk("b"), pk("c")}},
		{"OR", nil, []store.Clause{clause("url", store.KindURI, 0, uv("urn:oid:1.2.3"), uv("http://acme.org/fhir"))}, []string{pk("c"), pk("d")}},
		{":missing", nil, []store.Clause{missing("url", store.KindURI, false)}, []string{pk("a"), pk("b"), pk("c"), pk("d")}},
	})
}

func testSearchComposites(t *testing.T, s *handle) {
	cq := func(code string, lo, hi float64) store.IndexEntry {
		return store.IndexEntry{Param: "code-value-quantity", Kind: store.KindComposite, Components: []store.IndexEntry{
			{Kind: store.KindToken, System: "http://loinc.org", Code: code},
			{Kind: store.KindQuantity, Low: lo, High: hi, System: "http://unitsofmeasure.org", Code: "mm[Hg]"}}}
	}
	cc := func(code, value string) store.IndexEntry {
		return store.IndexEntry{Param: "code-value-concept", Kind: store.KindComposite, Components: []store.IndexEntry{
			{Kind: store.KindToken, System: "http://loinc.org", Code: code}, {Kind: store.KindToken, System: "http://snomed.info/sct", Code: value}}}
	}
	cs := func(code, value string) store.IndexEntry {
		return store.IndexEntry{Param: "code-value-string", Kind: store.KindComposite, Components: []store.IndexEntry{
			{Kind: store.KindToken, System: "http://loinc.org", Code: code}, {Kind: store.KindString, Text: value, Code: value}}}
	}
	writeAll(t, s, []store.Write{
		// a: systolic 120 and diastolic 80; b: systolic 80 and diastolic 120 (same values,
		// other pairs: a composite must match its components on one entry).
		create("Patient", "a", at(1), cq("8480-6", 119.5, 120.5), cq("8462-4", 79.5, 80.5), cc("status", "active"), cs("note", "hello world")),
		create("Patient", "b", at(1), cq("8480-6", 79.5, 80.5), cq("8462-4", 119.5, 120.5), cc("status", "inactive")),
	})
	comp := func(code string, p store.Prefix, lo, hi float64) store.Value {
		return store.Value{Components: []store.Value{{System: "http://loinc.org", Code: code},
			{Prefix: p, Low: lo, High: hi, AnySystem: true, AnyCode: true}}}
	}
	runCases(t, s, []searchCase{
		{"token$quantity", nil, []store.Clause{clause("code-value-quantity", store.KindComposite, 0, comp("8480-6", 0, 119.5, 120.5))}, []string{pk("a")}},
		{"token$quantity other pair", nil, []store.Clause{clause("code-value-quantity", store.KindComposite, 0, comp("8480-6", 0, 79.5, 80.5))}, []string{pk("b")}},
		{"token$gt quantity", nil, []store.Clause{clause("code-value-quantity", store.KindComposite, 0, comp("8462-4", store.PrefixGt, 99.5, 100.5))}, []string{pk("b")}},
		{"token$quantity OR", nil, []store.Clause{clause("code-value-quantity", store.KindComposite, 0, comp("8480-6", 0, 119.5, 120.5), comp("8480-6", 0, 79.5, 80.5))}, []string{pk("a"), pk("b")}},
		{"token$token", nil, []store.Clause{clause("code-value-concept", store.KindComposite, 0, store.Value{Components: []store.Value{
			{Code: "status", AnySystem: true}, {System: "http://snomed.info/sct", Code: "inactive"}}})}, []string{pk("b")}},
		{"token$string", nil, []store.Clause{clause("code-value-string", store.KindComposite, 0, store.Value{Components: []store.Value{
			{Code: "note", AnySystem: true}, {Text: "hello"}}})}, []string{pk("a")}},
		{"composite :missing", nil, []store.Clause{missing("code-value-string", store.KindComposite, true)}, []string{pk("b")}},
	})
}

func testSearchChains(t *testing.T, s *handle) {
	writeAll(t, s, []store.Write{
		create("Organization", "org1", at(1), str("name", "acme", "Acme")),
		create("Organization", "org2", at(1), str("name", "globex", "Globex")),
		create("Patient", "p1", at(1), str("name", "smith", "Smith"), ref("organization", "Organization", "org1")),
		create("Patient", "p2", at(1), str("name", "jones", "Jones"), ref("organization", "Organization", "org2")),
		create("Patient", "p3", at(1), str("name", "smith", "Smith")),
		del("Patient", "p3", 2, at(2)),
		create("Group", "g1", at(1), str("name", "smith", "Smith")),
		create("Observation", "o1", at(1), ref("subject", "Patient", "p1")),
		create("Observation", "o2", at(1), ref("subject", "Patient", "p2")),
		create("Observation", "o3", at(1), ref("subject", "Patient", "p3")),
		create("Observation", "o4", at(1), ref("subject", "Group", "g1")),
	})
	ok := func(id string) string { return key("Observation", id, 1) }
	obs := []string{"Observation"}
	chain := func(types []string, where ...store.Clause) store.Clause {
		return store.Clause{Param: "subject", Kind: store.KindReference, Chain: &store.Query{Types: types, Where: where}}
	}
	name := func(v string) store.Clause { return clause("name", store.KindString, 0, store.Value{Text: v}) }
	runCases(t, s, []searchCase{
		{"subject:Patient.name", obs, []store.Clause{chain([]string{"Patient"}, name("smith"))}, []string{ok("o1")}},
		{"subject.name (any type)", obs, []store.Clause{chain(nil, name("smith"))}, []string{ok("o1"), ok("o4")}},
		{"two levels", obs, []store.Clause{chain([]string{"Patient"}, store.Clause{Param: "organization", Kind: store.KindReference,
			Chain: &store.Query{Types: []string{"Organization"}, Where: []store.Clause{name("glob")}}})}, []string{ok("o2")}},
		{"chain AND other clause", obs, []store.Clause{chain([]string{"Patient"}, name("jones")), clause("subject", store.KindReference, 0, refv("Patient", "p2"))}, []string{ok("o2")}},
		{"chain to nothing", obs, []store.Clause{chain([]string{"Patient"}, name("nobody"))}, nil},
	})
}

func testSearchHas(t *testing.T, s *handle) {
	writeAll(t, s, []store.Write{
		create("Patient", "p1", at(1)),
		create("Patient", "p2", at(1)),
		create("Patient", "p3", at(1)),
		create("Observation", "o1", at(1), ref("patient", "Patient", "p1"), tok("code", "http://loinc.org", "1234")),
		create("Observation", "o2", at(1), ref("patient", "Patient", "p2"), tok("code", "http://loinc.org", "9999")),
		create("Observation", "o3", at(1), ref("patient", "Patient", "p3"), tok("code", "http://loinc.org", "1234")),
		del("Observation", "o3", 2, at(2)),
		create("Provenance", "v1", at(1), ref("target", "Observation", "o2"), tok("agent-type", "t", "author")),
		create("Group", "g", at(1), ref("patient", "Patient", "p3")),
	})
	has := func(typ, param string, where ...store.Clause) store.Clause {
		return store.Clause{Has: &store.Has{Type: typ, Param: param, Where: where}}
	}
	runCases(t, s, []searchCase{
		{"_has:Observation:patient:code", nil, []store.Clause{has("Observation", "patient", tokens("code", code("1234")))}, []string{pk("p1")}},
		{"_has any", nil, []store.Clause{has("Observation", "patient")}, []string{pk("p1"), pk("p2")}},
		{"_has of another type", nil, []store.Clause{has("Group", "patient")}, []string{pk("p3")}},
		{"nested _has", nil, []store.Clause{has("Observation", "patient", has("Provenance", "target", tokens("agent-type", code("author"))))}, []string{pk("p2")}},
		{"_has AND _id", nil, []store.Clause{has("Observation", "patient"), idClause("p2", "p3")}, []string{pk("p2")}},
	})
}

func testSearchLastUpdated(t *testing.T, s *handle) {
	writeAll(t, s, []store.Write{
		create("Patient", "a", at(10)),
		create("Patient", "b", at(20)),
		create("Patient", "c", at(30)),
		update("Patient", "c", 2, at(40)),
	})
	ms := func(sec int) float64 { return float64(at(sec).UnixMilli()) }
	lu := func(p store.Prefix, sec int) store.Clause { // the whole second as the search range
		return clause("_lastUpdated", store.KindDate, 0, store.Value{Prefix: p, Low: ms(sec), High: ms(sec + 1)})
	}
	runCases(t, s, []searchCase{
		{"eq", nil, []store.Clause{lu(store.PrefixEq, 20)}, []string{pk("b")}},
		{"ge", nil, []store.Clause{lu(store.PrefixGe, 20)}, []string{pk("b"), key("Patient", "c", 2)}},
		{"lt", nil, []store.Clause{lu(store.PrefixLt, 20)}, []string{pk("a")}},
		{"superseded time", nil, []store.Clause{lu(store.PrefixEq, 30)}, nil},
	})
}

func testSearchSystem(t *testing.T, s *handle) {
	writeAll(t, s, []store.Write{
		create("Patient", "x", at(1), tok("tag", "t", "vip")),
		create("Observation", "x", at(1), tok("tag", "t", "vip")),
		create("Group", "g", at(1), tok("tag", "t", "vip")),
		create("Group", "h", at(1), tok("tag", "t", "other")),
	})
	vip := []store.Clause{tokens("tag", code("vip"))}
	runCases(t, s, []searchCase{
		{"all types", []string{""}, vip, []string{key("Group", "g", 1), key("Observation", "x", 1), key("Patient", "x", 1)}},
		{"two types", []string{"Patient", "Group"}, vip, []string{key("Group", "g", 1), key("Patient", "x", 1)}},
		{"all types, _id", []string{""}, []store.Clause{idClause("x")}, []string{key("Observation", "x", 1), key("Patient", "x", 1)}},
		{"all types, no clause", []string{""}, nil, []string{key("Group", "g", 1), key("Group", "h", 1), key("Observation", "x", 1), key("Patient", "x", 1)}},
	})
}

// testSearchSort sorts on several keys, ascending and descending, with resources lacking a
// key last in both directions; ascending uses each resource's smallest key, descending its
// largest. Every order is checked through pages of 2.
func testSearchSort(t *testing.T, s *handle) {
	sk := func(param, key string) store.IndexEntry {
		return store.IndexEntry{Param: param, Kind: store.KindToken, System: "s", Code: key, SortKey: key}
	}
	writeAll(t, s, []store.Write{
		create("Patient", "a", at(5), sk("family", "b"), sk("given", "2"), tok("all", "s", "y")),
		create("Patient", "b", at(4), sk("family", "a"), sk("given", "9"), tok("all", "s", "y")),
		create("Patient", "c", at(3), sk("family", "b"), sk("given", "1"), tok("all", "s", "y")),
		create("Patient", "d", at(2), sk("given", "5"), tok("all", "s", "y")),                     // no family
		create("Patient", "e", at(1), sk("family", "c"), sk("family", "0"), tok("all", "s", "y")), // smallest 0, largest c
		create("Patient", "f", at(6), tok("all", "s", "y")),                                       // no keys at all
	})
	cases := []struct {
		name string
		sort []store.Sort
		want string
	}{
		{"family", []store.Sort{{Param: "family"}}, "e b ac df"},
		{"-family", []store.Sort{{Param: "family", Desc: true}}, "e ac b df"},
		{"family,given", []store.Sort{{Param: "family"}, {Param: "given"}}, "e b c a d f"},
		{"family,-given", []store.Sort{{Param: "family"}, {Param: "given", Desc: true}}, "e b a c d f"},
		{"-family,given", []store.Sort{{Param: "family", Desc: true}, {Param: "given"}}, "e c a b d f"},
		{"_lastUpdated", []store.Sort{{Param: "_lastUpdated"}}, "e d c b a f"},
		{"-_lastUpdated", []store.Sort{{Param: "_lastUpdated", Desc: true}}, "f a b c d e"},
		{"-_id", []store.Sort{{Param: "_id", Desc: true}}, "f e d c b a"},
		{"given,_id", []store.Sort{{Param: "given"}, {Param: "_id"}}, "c a d b e f"},
	}
	for _, c := range cases {
		for _, count := range []int{2, 100} {
			got := searchPages(t, s, store.Query{Types: []string{"Patient"}, Where: []store.Clause{tokens("all", code("y"))},
				Sort: c.sort, Count: count}, func(store.Page) {})
			if !sortMatches(got, c.want) {
				t.Errorf("sort %s (count %d): got %q, want groups %q", c.name, count, got, c.want)
			}
		}
	}
}

// testSearchSortReferences sorts by a reference parameter (Type/id, absolute URL and
// identifier-only references, as fhir's extractor keys them) and by identifier, both ways,
// through pages of 2: a backend may keep these keys elsewhere than other parameters' (SQLite
// reads them from the reference and token rows), with the same order.
func testSearchSortReferences(t *testing.T, s *handle) {
	ref := func(typ, id, url, ident string) store.IndexEntry {
		e := store.IndexEntry{Param: "organization", Kind: store.KindReference, RefType: typ, RefID: id, RefURL: url, Code: ident}
		switch {
		case id != "":
			e.SortKey = typ + "/" + id
		case url != "":
			e.SortKey = url
		default:
			e.SortKey = ident
		}
		return e
	}
	ident := func(v string) store.IndexEntry {
		return store.IndexEntry{Param: "identifier", Kind: store.KindToken, System: "urn:s", Code: v, SortKey: v}
	}
	writeAll(t, s, []store.Write{
		create("Practitioner", "a", at(1), ref("Organization", "2", "", ""), ident("id-b"), tok("all", "s", "y")),
		create("Practitioner", "b", at(2), ref("", "", "http://other.example/fhir/Organization/1", ""), ident("id-a"), tok("all", "s", "y")),
		create("Practitioner", "c", at(3), ref("", "", "", "zz"), ident("id-d"), ident("id-0"), tok("all", "s", "y")),
		create("Practitioner", "d", at(4), tok("all", "s", "y")),
		create("Practitioner", "e", at(5), ref("Organization", "1", "", ""), ref("Organization", "3", "", ""), ident("id-c"), tok("all", "s", "y")),
		create("Practitioner", "f", at(6), tok("all", "s", "y")),
	})
	for _, c := range []struct {
		name string
		sort []store.Sort
		want string
	}{
		{"organization", []store.Sort{{Param: "organization"}}, "e a b c df"},
		{"-organization", []store.Sort{{Param: "organization", Desc: true}}, "c b e a df"},
		{"identifier", []store.Sort{{Param: "identifier"}}, "c b a e df"},
		{"-identifier", []store.Sort{{Param: "identifier", Desc: true}}, "c e a b df"},
		{"organization,-_id", []store.Sort{{Param: "organization"}, {Param: "_id", Desc: true}}, "e a b c f d"},
	} {
		for _, count := range []int{2, 100} {
			for _, where := range [][]store.Clause{{tokens("all", code("y"))}, nil} { // driven, and the whole type
				got := searchPages(t, s, store.Query{Types: []string{"Practitioner"}, Where: where, Sort: c.sort, Count: count},
					func(store.Page) {})
				if !sortMatches(got, c.want) {
					t.Errorf("sort %s (count %d, %d clauses): got %q, want groups %q", c.name, count, len(where), got, c.want)
				}
			}
		}
	}
}

// testSearchSortTokens sorts by tokens as fhir's extractor keys them: a coding by its code, a
// concept by its codes (its text entry keyed by its first code) or, with no coding, by its
// text, and Communication.priority by rank then code; both ways, through pages of 2, driven by
// a clause and over the whole type. A backend may read the keys of tokens sorted by their
// codes from the token entries themselves (SQLite does), with the same order.
func testSearchSortTokens(t *testing.T, s *handle) {
	coding := func(c string) store.IndexEntry {
		return store.IndexEntry{Param: "code", Kind: store.KindToken, System: "s", Code: c, SortKey: c}
	}
	text := func(txt, sortKey string) store.IndexEntry {
		return store.IndexEntry{Param: "code", Kind: store.KindToken, Text: txt, SortKey: sortKey}
	}
	rank := func(c, r string) store.IndexEntry {
		return store.IndexEntry{Param: "priority", Kind: store.KindToken, System: "s", Code: c, SortKey: r + c}
	}
	writeAll(t, s, []store.Write{
		create("Basic", "a", at(1), coding("m"), coding("b"), text("mass", "m"), rank("stat", "1"), tok("all", "s", "y")),
		create("Basic", "b", at(2), coding("k"), rank("routine", "4"), tok("all", "s", "y")),
		create("Basic", "c", at(3), text("e", "e"), rank("urgent", "2"), tok("all", "s", "y")), // text only
		create("Basic", "d", at(4), coding("d"), text("dx", "d"), tok("all", "s", "y")),
		create("Basic", "e", at(5), rank("asap", "3"), tok("all", "s", "y")),
		create("Basic", "f", at(6), tok("all", "s", "y")),
	})
	for _, c := range []struct {
		name string
		sort []store.Sort
		want string
	}{
		{"code", []store.Sort{{Param: "code"}}, "a d c b ef"},
		{"-code", []store.Sort{{Param: "code", Desc: true}}, "a b c d ef"},
		{"priority", []store.Sort{{Param: "priority"}}, "a c e b df"},
		{"-priority", []store.Sort{{Param: "priority", Desc: true}}, "b e c a df"},
		{"priority,code", []store.Sort{{Param: "priority"}, {Param: "code"}}, "a c e b d f"},
	} {
		for _, count := range []int{2, 100} {
			for _, where := range [][]store.Clause{{tokens("all", code("y"))}, nil} {
				got := searchPages(t, s, store.Query{Types: []string{"Basic"}, Where: where, Sort: c.sort, Count: count},
					func(store.Page) {})
				if !sortMatches(got, c.want) {
					t.Errorf("sort %s (count %d, %d clauses): got %q, want groups %q", c.name, count, len(where), got, c.want)
				}
			}
		}
	}
}

// sortMatches compares ids with a want of space-separated groups: ids within a group tie and
// may come in any order (the backend's tie-break), groups in order.
func sortMatches(got []string, want string) bool {
	var ids []string
	for _, g := range got {
		ids = append(ids, strings.Split(g, "/")[1])
	}
	pos := 0
	for _, group := range strings.Fields(want) {
		if pos+len(group) > len(ids) {
			return false
		}
		chunk := slices.Clone(ids[pos : pos+len(group)])
		slices.Sort(chunk)
		exp := []string{}
		for _, r := range group {
			exp = append(exp, string(r))
		}
		slices.Sort(exp)
		if !slices.Equal(chunk, exp) {
			return false
		}
		pos += len(group)
	}
	return pos == len(ids)
}

// testSearchPagingUnderInserts pages through 10,000 matches, sorted by a key and by default,
// while another goroutine inserts matching resources with keys and ids spread over the whole
// range: every original resource comes back exactly once, and nothing comes back twice.
func testSearchPagingUnderInserts(t *testing.T, s *handle) {
	const n = 10_000
	rng := rand.New(rand.NewPCG(1, 2))
	entry := func() []store.IndexEntry {
		k := fmt.Sprintf("%06d", rng.IntN(1_000_000))
		return []store.IndexEntry{tok("tag", "t", "page"), {Param: "date", Kind: store.KindDate, Low: 1, High: 2, SortKey: k}}
	}
	var batch []store.Write
	original := map[string]bool{}
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := s.Write(t.Context(), batch...); err != nil {
			// A backend without multi-write transactions gets one call per write.
			for _, w := range batch {
				mustWrite(t, s, w)
			}
		}
		batch = batch[:0]
	}
	for range n {
		id := fmt.Sprintf("o%06d", rng.IntN(1_000_000)*10) // ids end in 0; inserts end in 5
		if original[id] {
			continue
		}
		original[id] = true
		batch = append(batch, create("Patient", id, at(1), entry()...))
		if len(batch) == 1000 {
			flush()
		}
	}
	flush()

	for _, sort := range [][]store.Sort{nil, {{Param: "date"}}, {{Param: "date", Desc: true}}} {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var ws []store.Write
				for j := range 20 {
					ws = append(ws, create("Patient", fmt.Sprintf("o%06d%d-%d", rng.IntN(1_000_000)*10+5, len(sort), i*20+j), at(2), entry()...))
				}
				if err := s.Write(t.Context(), ws...); err != nil {
					for _, w := range ws {
						if err := s.Write(t.Context(), w); err != nil {
							t.Errorf("concurrent insert: %v", err)
							return
						}
					}
				}
				time.Sleep(time.Millisecond)
			}
		}()
		seen := map[string]int{}
		got := searchPages(t, s, store.Query{Types: []string{"Patient"}, Where: []store.Clause{tokens("tag", code("page"))},
			Sort: sort, Count: 500}, func(store.Page) {})
		close(stop)
		wg.Wait()
		for _, k := range got {
			seen[k]++
		}
		missingN, dup := 0, 0
		for id := range original {
			if seen[pk(id)] != 1 {
				missingN++
			}
		}
		for _, c := range seen {
			if c > 1 {
				dup++
			}
		}
		if missingN > 0 || dup > 0 {
			t.Errorf("sort %v: %d originals not listed exactly once, %d records listed twice (of %d listed)", sort, missingN, dup, len(got))
		}
	}
}
