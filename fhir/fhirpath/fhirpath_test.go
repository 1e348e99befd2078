package fhirpath_test

import (
	"testing"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/fhir/fhirpath"
)

func TestCompileEvaluate(t *testing.T) {
	r, err := fhir.ParseResource([]byte(`{"resourceType":"Patient","name":[{"family":"Chalmers","given":["Peter","James"]}],"generalPractitioner":[{"reference":"Practitioner/1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := fhirpath.MustCompile("Patient", "Patient.name.given | Patient.name.family")
	var got []string
	for _, n := range fhirpath.Evaluate(e, r) {
		got = append(got, n.Value.Text)
	}
	if len(got) != 3 || got[0] != "Peter" || got[2] != "Chalmers" {
		t.Errorf("got %v", got)
	}
	e = fhirpath.MustCompile("Patient", "Patient.generalPractitioner.where(resolve() is Practitioner)")
	if ns := fhirpath.Evaluate(e, r); len(ns) != 1 || ns[0].Type != "Reference" {
		t.Errorf("got %v", ns)
	}
	if _, err := fhirpath.Compile("Patient", "Patient.nope"); err == nil {
		t.Error("unknown element compiled")
	}
}
