package fhirvalidator

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate checks that the validator judges as the tests rely on: an invalid code of a
// required binding and an unknown element are errors; a code system it does not hold (LOINC,
// offline), a profile it cannot fetch and a language outside the common ones where the binding
// is only preferred are not; a valid resource has no error; results come back in order.
func TestValidate(t *testing.T) {
	jar := filepath.Join("..", "..", Jar)
	Need(t, jar)
	resources := [][]byte{
		[]byte(`{"resourceType":"Patient","gender":"mael"}`),
		[]byte(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/1"}}`),
		[]byte(`{"resourceType":"Patient","nickname":"Pete"}`),
		[]byte("{\n  \"resourceType\": \"Patient\",\n  \"name\": [{\"family\": \"Chalmers\"}]\n}"),
		[]byte(`{"resourceType":"Patient","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
			"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"vi"}]}}],
			"name":[{"family":"Nguyen","_family":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/translation",
				"extension":[{"url":"lang","valueCode":"vi"},{"url":"content","valueString":"Nguyễn"}]}]}}]}`),
	}
	results, err := Validate(jar, []string{filepath.Join(t.TempDir(), "none")}, resources)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(resources) {
		t.Fatalf("%d results for %d resources", len(results), len(resources))
	}
	wantError := func(i int, location string) {
		t.Helper()
		for _, e := range results[i].Errors() {
			if strings.HasPrefix(e.Location, location) {
				return
			}
		}
		t.Errorf("resource %d: no error at %s in %v", i, location, results[i].Issues)
	}
	wantError(0, "Patient.gender")
	wantError(2, "Patient")
	for _, i := range []int{1, 3, 4} {
		if errs := results[i].Errors(); len(errs) > 0 {
			t.Errorf("resource %d: errors %v", i, errs)
		}
	}
	loinc := false
	for _, is := range results[1].Issues {
		loinc = loinc || (is.Severity == "warning" && strings.Contains(is.Message, "loinc.org"))
	}
	if !loinc {
		t.Errorf("no warning that LOINC cannot be checked offline: %v", results[1].Issues)
	}
}
