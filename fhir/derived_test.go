package fhir

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/portico-health/portico/store"
)

// TestDerivedParamsFound pins the derivations the mission types rely on: a change in the
// definitions or in findDerived that loses or invents one shows here.
func TestDerivedParamsFound(t *testing.T) {
	want := map[string]map[string][]string{
		"Observation": {
			"combo-code":                {"code", "component-code"},
			"combo-code-value-concept":  {"code-value-concept", "component-code-value-concept"},
			"combo-code-value-quantity": {"code-value-quantity", "component-code-value-quantity"},
			"combo-data-absent-reason":  {"data-absent-reason", "component-data-absent-reason"},
			"combo-value-concept":       {"value-concept", "component-value-concept"},
			"combo-value-quantity":      {"value-quantity", "component-value-quantity"},
		},
		// phonetic is Patient.name, but Organization's phonetic is not its name: kept stored.
		"Patient":       nil,
		"Appointment":   nil,
		"Communication": nil,
		"Invoice":       nil,
	}
	for typ, w := range want {
		got := DerivedParams(typ)
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("DerivedParams(%s) = %v, want %v", typ, got, w)
		}
	}
	for _, typ := range ResourceTypes {
		for p, of := range DerivedParams(typ) {
			for _, q := range of {
				if _, derived := DerivedParams(typ)[q]; derived {
					t.Errorf("%s.%s is derived from %s, itself derived", typ, p, q)
				}
			}
		}
	}
}

// derivedCorpus are resources that exercise the derived parameters: the repository's examples
// and Observations with components, concepts, sampled data and absent data.
var derivedCorpus = []string{
	`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}],"text":"Blood pressure"},
	 "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-05-02T08:05:00Z",
	 "component":[
	  {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}],"text":"Systolic"},"valueQuantity":{"value":120.5,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	  {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
	  {"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"unknown"}]}},
	  {"code":{"coding":[{"system":"http://loinc.org","code":"9279-1"}]},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"271825005"}],"text":"Labored"}},
	  {"code":{"text":"Waveform"},"valueSampledData":{"origin":{"value":0,"unit":"mV","system":"http://unitsofmeasure.org","code":"mV"},"period":10,"dimensions":1,"data":"1 2 3"}}
	 ]}`,
	`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},
	 "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"8517006"}],"text":"Former smoker"}}`,
	`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2160-0"}]},
	 "dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"error"}]}}`,
}

// TestDerivedParamsEntries checks the claim stores rely on when they drop a derived
// parameter's entries: on each resource, its entries are exactly the union of the entries of
// the parameters it is derived from (the parameter's own name aside).
func TestDerivedParamsEntries(t *testing.T) {
	bodies := append([]string(nil), derivedCorpus...)
	files, _ := filepath.Glob("../testdata/resources/*.json")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(data))
	}
	checked := map[string]bool{}
	for i, body := range bodies {
		r, err := ParseResource([]byte(body))
		if err != nil {
			t.Fatalf("resource %d: %v", i, err)
		}
		index, err := ExtractIndex(r)
		if err != nil {
			t.Fatalf("resource %d: %v", i, err)
		}
		for p, of := range DerivedParams(r.Type()) {
			got := anonymous(index, p)
			var want []string
			for _, q := range of {
				want = append(want, anonymous(index, q)...)
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s (resource %d): %s has\n  %v\nbut %v have\n  %v", r.Type(), i, p, got, of, want)
			}
			if len(got) > 0 {
				checked[r.Type()+"."+p] = true
			}
		}
	}
	for _, p := range []string{"Observation.combo-code", "Observation.combo-value-quantity", "Observation.combo-code-value-quantity",
		"Observation.combo-value-concept", "Observation.combo-data-absent-reason", "Observation.combo-code-value-concept"} {
		if !checked[p] {
			t.Errorf("no resource of the corpus has entries for %s", p)
		}
	}
}

// anonymous lists param's entries without their parameter names, sorted.
func anonymous(index []store.IndexEntry, param string) []string {
	var out []string
	for _, e := range index {
		if e.Param != param {
			continue
		}
		e.Param = ""
		comps := slices.Clone(e.Components)
		for i := range comps {
			comps[i].Param = ""
		}
		e.Components = comps
		out = append(out, fmt.Sprintf("%+v", e))
	}
	slices.Sort(out)
	return out
}
