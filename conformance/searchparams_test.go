package conformance_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/portico-health/portico/conformance"
	"github.com/portico-health/portico/fhir"
)

func TestR4SearchParams(t *testing.T) {
	params := conformance.R4SearchParams("Patient")
	byName := map[string]conformance.SearchParam{}
	for _, p := range params {
		if _, dup := byName[p.Name]; dup {
			t.Errorf("%s listed twice", p.Name)
		}
		byName[p.Name] = p
	}
	for name, typ := range map[string]string{"identifier": "token", "birthdate": "date", "_id": "token", "_lastUpdated": "date", "general-practitioner": "reference"} {
		if got := byName[name].Type; got != typ {
			t.Errorf("%s: type %q, want %q", name, got, typ)
		}
	}
	if !slices.IsSortedFunc(params, func(a, b conformance.SearchParam) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("not sorted by name")
	}

	// Wired into a Description, they appear in the statement, which stays valid.
	d := goldenDescription()
	d.SearchParams = conformance.R4SearchParams
	cs := conformance.CapabilityStatement(d)
	res := cs.Get("rest").Arr[0].Get("resource").Arr[1] // Observation
	if sp := res.Get("searchParam"); sp == nil || len(sp.Arr) < 10 {
		t.Fatalf("Observation has no searchParam list: %s", fhir.AppendJSON(nil, res))
	}
	if _, err := fhir.ParseResource(fhir.AppendJSON(nil, cs)); err != nil {
		t.Errorf("not a valid resource with search parameters: %v", err)
	}
}

// TestR4SearchParamsPorticoAndSkipped: Portico's own parameters are advertised, and the ones
// the extractor cannot evaluate are not.
func TestR4SearchParamsPorticoAndSkipped(t *testing.T) {
	names := func(typ string) []string {
		var out []string
		for _, p := range conformance.R4SearchParams(typ) {
			out = append(out, p.Name)
		}
		return out
	}
	comm := names("Communication")
	for _, want := range []string{"priority", "due", "recipient", "_lastUpdated"} {
		if !slices.Contains(comm, want) {
			t.Errorf("Communication does not advertise %s: %v", want, comm)
		}
	}
	if slices.Contains(names("Location"), "near") {
		t.Error("Location advertises near, which search does not evaluate")
	}
}
