package guard_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// TestReachResolved: a practitioner's patients (by role, under the default organization reach)
// are resolved to ids once for the request, and the searches confined by them find exactly
// those patients' data; a practitioner who reaches more than the resolution's bound keeps the
// clauses and still sees exactly their own.
func TestReachResolved(t *testing.T) {
	e := newViewEnv(t)
	e.write("Organization", "org1", 1, `,"name":"One"`)
	e.write("Organization", "org2", 1, `,"name":"Two"`)
	e.write("PractitionerRole", "r1", 1, `,"practitioner":{"reference":"Practitioner/d1"},"organization":{"reference":"Organization/org1"}`)
	e.write("PractitionerRole", "r2", 1, `,"practitioner":{"reference":"Practitioner/d2"},"organization":{"reference":"Organization/org2"}`)
	var writes []store.Write
	for i := range 1005 { // org2: more patients than are resolved to ids
		writes = append(writes, e.writeOf("Patient", fmt.Sprintf("b%d", i), 1, `,"managingOrganization":{"reference":"Organization/org2"}`))
	}
	writes = append(writes, e.writeOf("Patient", "a1", 1, `,"managingOrganization":{"reference":"Organization/org1"}`),
		e.writeOf("Patient", "a2", 1, `,"managingOrganization":{"reference":"Organization/org1"}`),
		e.writeOf("Observation", "oa1", 1, obsOf("a1")), e.writeOf("Observation", "ob1", 1, obsOf("b1")))
	if err := e.st.Write(t.Context(), writes...); err != nil {
		t.Fatal(err)
	}
	scopes, _, err := policy.ParseScopes("user/*.rs")
	if err != nil {
		t.Fatal(err)
	}
	search := func(who, typ string) ([]string, policy.Principal) {
		ctx := policy.WithPrincipal(t.Context(), policy.Principal{Scopes: scopes, FHIRUser: who})
		v, err := e.src.View(ctx)
		if err != nil {
			t.Fatal(err)
		}
		page, err := v.Search(ctx, store.Query{Types: []string{typ}, Count: 2000})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range page.Records {
			ids = append(ids, r.ID)
		}
		slices.Sort(ids)
		return ids, v.Principal()
	}
	ids, p := search("Practitioner/d1", "Patient")
	if !p.ReachResolved || !slices.Equal(p.ReachIDs, []string{"a1", "a2"}) {
		t.Errorf("d1's reach: resolved %v, ids %v; want a1, a2 resolved", p.ReachResolved, p.ReachIDs)
	}
	if !slices.Equal(ids, []string{"a1", "a2"}) {
		t.Errorf("d1 sees patients %v", ids)
	}
	if obs, _ := search("Practitioner/d1", "Observation"); !slices.Equal(obs, []string{"oa1"}) {
		t.Errorf("d1 sees Observations %v", obs)
	}
	ids, p = search("Practitioner/d2", "Patient")
	if p.ReachResolved {
		t.Errorf("d2 reaches 1005 patients: resolved to ids past the bound")
	}
	if len(ids) != 1005 || slices.Contains(ids, "a1") {
		t.Errorf("d2 sees %d patients (a1 among them: %v), want the 1005 of org2", len(ids), slices.Contains(ids, "a1"))
	}
	if obs, _ := search("Practitioner/d2", "Observation"); !slices.Equal(obs, []string{"ob1"}) {
		t.Errorf("d2 sees Observations %v", obs)
	}
}
