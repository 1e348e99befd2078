package storetest

import (
	"testing"

	"github.com/portico-health/portico/store"
)

var searchTests = []test{
	{"Tokens", testSearchTokens},
	{"Paging", testSearchPaging},
	{"PagingByBytes", testSearchPagingByBytes},
}

const genderSystem = "http://hl7.org/fhir/administrative-gender"

// Token values in the four forms of FHIR R4 §3.1.1.4.7 (token search).
func code(c string) store.Value             { return store.Value{Code: c, AnySystem: true} }   // code
func sysCode(sys, c string) store.Value     { return store.Value{System: sys, Code: c} }       // system|code
func noSystem(c string) store.Value         { return store.Value{Code: c} }                    // |code
func anyCode(sys string) store.Value        { return store.Value{System: sys, AnyCode: true} } // system|
func identifier(sys, c string) store.Clause { return tokens("identifier", sysCode(sys, c)) }

func tokens(param string, values ...store.Value) store.Clause {
	return store.Clause{Param: param, Kind: store.KindToken, Values: values}
}

// idClause is _id=id1,id2,...: the resource id compared like a token code.
func idClause(ids ...string) store.Clause {
	c := store.Clause{Param: "_id", Kind: store.KindToken}
	for _, id := range ids {
		c.Values = append(c.Values, store.Value{Code: id})
	}
	return c
}

func testSearchTokens(t *testing.T, s *handle) {
	female, male := tok("gender", genderSystem, "female"), tok("gender", genderSystem, "male")
	writeAll(t, s, []store.Write{
		create("Patient", "p1", at(1), tok("identifier", "urn:a", "111"), tok("identifier", "urn:b", "222"), female),
		create("Patient", "p2", at(1), tok("identifier", "urn:a", "222"), male),
		create("Patient", "p3", at(1), tok("identifier", "", "111"), female),
		create("Patient", "p4", at(1), tok("identifier", "urn:a", "333"), male),
		del("Patient", "p4", 2, at(2)),
		create("Patient", "p5", at(1), tok("identifier", "urn:a", "444"), female),
		update("Patient", "p5", 2, at(2), tok("identifier", "urn:a", "555"), male),
		create("Patient", "p6", at(1), tok("identifier", "urn:a", "666")),
		del("Patient", "p6", 2, at(2)),
		update("Patient", "p6", 3, at(3), tok("identifier", "urn:a", "777")),
		create("Observation", "o1", at(1), tok("identifier", "urn:a", "111")),
	})
	p1, p2, p3 := key("Patient", "p1", 1), key("Patient", "p2", 1), key("Patient", "p3", 1)
	p5, p6 := key("Patient", "p5", 2), key("Patient", "p6", 3)
	cases := []struct {
		name  string
		typ   string
		where []store.Clause
		want  []string
	}{
		{"code in any system", "Patient", []store.Clause{tokens("identifier", code("111"))}, []string{p1, p3}},
		{"system|code", "Patient", []store.Clause{identifier("urn:a", "111")}, []string{p1}},
		{"|code", "Patient", []store.Clause{tokens("identifier", noSystem("111"))}, []string{p3}},
		{"system|", "Patient", []store.Clause{tokens("identifier", anyCode("urn:a"))}, []string{p1, p2, p5, p6}},
		{"system| of another system", "Patient", []store.Clause{tokens("identifier", anyCode("urn:b"))}, []string{p1}},
		{"unknown code", "Patient", []store.Clause{tokens("identifier", code("999"))}, nil},
		{"OR of values", "Patient", []store.Clause{tokens("identifier", code("111"), sysCode("urn:a", "222"))}, []string{p1, p2, p3}},
		{"OR matching one resource twice", "Patient", []store.Clause{tokens("identifier", sysCode("urn:a", "111"), sysCode("urn:b", "222"))}, []string{p1}},
		{"AND of clauses", "Patient", []store.Clause{tokens("identifier", code("111")), tokens("gender", sysCode(genderSystem, "female"))}, []string{p1, p3}},
		{"AND with system|", "Patient", []store.Clause{tokens("identifier", anyCode("urn:a")), tokens("gender", code("male"))}, []string{p2, p5}},
		{"AND excluding all", "Patient", []store.Clause{identifier("urn:b", "222"), tokens("gender", code("male"))}, nil},
		{"_id", "Patient", []store.Clause{idClause("p1", "p2", "nope")}, []string{p1, p2}},
		{"_id of a deleted resource", "Patient", []store.Clause{idClause("p4")}, nil},
		{"_id of another type", "Patient", []store.Clause{idClause("o1")}, nil},
		{"_id AND token", "Patient", []store.Clause{idClause("p1", "p2"), tokens("identifier", code("111"))}, []string{p1}},
		{"superseded version", "Patient", []store.Clause{identifier("urn:a", "444")}, nil},
		{"current version", "Patient", []store.Clause{identifier("urn:a", "555")}, []string{p5}},
		{"version before a delete", "Patient", []store.Clause{identifier("urn:a", "666")}, nil},
		{"version after a delete", "Patient", []store.Clause{identifier("urn:a", "777")}, []string{p6}},
		{"deleted resource", "Patient", []store.Clause{identifier("urn:a", "333")}, nil},
		{"no clauses", "Patient", nil, []string{p1, p2, p3, p5, p6}},
		{"other type", "Observation", []store.Clause{tokens("identifier", code("111"))}, []string{key("Observation", "o1", 1)}},
	}
	for _, c := range cases {
		page, err := s.Search(t.Context(), store.Query{Types: []string{c.typ}, Where: c.where, Count: 50})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		equalKeys(t, c.name, keys(page.Records), c.want)
		if page.Next != "" || page.Total != -1 {
			t.Errorf("%s: Next %q Total %d, want no next page and Total -1", c.name, page.Next, page.Total)
		}
		for _, r := range page.Records {
			if r.Deleted() || len(r.Body) == 0 || r.Type != c.typ {
				t.Errorf("%s: record %s is not a current %s with a body", c.name, key(r.Type, r.ID, r.Version), c.typ)
			}
		}
	}
}
