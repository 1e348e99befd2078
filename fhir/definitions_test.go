package fhir

import (
	"slices"
	"strings"
	"testing"
)

func TestLookupElement(t *testing.T) {
	for _, tc := range []struct {
		path, wantPath string
		min, max       int
		types          []string
	}{
		{"Patient.birthDate", "Patient.birthDate", 0, 1, []string{"date"}},
		{"Patient.id", "Patient.id", 0, 1, []string{"id"}},
		{"Patient.contact.name", "Patient.contact.name", 0, 1, []string{"HumanName"}},
		{"Patient.name.given", "HumanName.given", 0, Unbounded, []string{"string"}},
		{"Observation.status", "Observation.status", 1, 1, []string{"code"}},
		{"Observation.value[x]", "Observation.value[x]", 0, 1, []string{"Quantity", "CodeableConcept", "string", "boolean", "integer", "Range", "Ratio", "SampledData", "time", "dateTime", "Period"}},
		{"Observation.valueQuantity.value", "Quantity.value", 0, 1, []string{"decimal"}},
		{"Observation.component.referenceRange.low", "Observation.referenceRange.low", 0, 1, []string{"Quantity"}},
		{"Questionnaire.item.item.item.linkId", "Questionnaire.item.linkId", 1, 1, []string{"string"}},
	} {
		el := LookupElement(tc.path)
		if el == nil {
			t.Errorf("%s: not found", tc.path)
			continue
		}
		var types []string
		for _, tp := range el.Types {
			types = append(types, tp.Code)
		}
		if el.Path != tc.wantPath || el.Min != tc.min || el.Max != tc.max || !slices.Equal(types, tc.types) {
			t.Errorf("%s: got %s %d..%d %v", tc.path, el.Path, el.Min, el.Max, types)
		}
	}
	for _, missing := range []string{"Patient", "Patient.nope", "Nope.id", "Patient.birthDate.value", "Observation.valueFoo"} {
		if el := LookupElement(missing); el != nil {
			t.Errorf("%s: found %s", missing, el.Path)
		}
	}
}

func TestElementDetails(t *testing.T) {
	subject := LookupElement("Observation.subject")
	if got := subject.Types[0].Targets; !slices.Equal(got, []string{"Patient", "Group", "Device", "Location"}) {
		t.Errorf("Observation.subject targets: %v", got)
	}
	if !subject.Summary || LookupElement("Observation.note").Summary {
		t.Error("isSummary is wrong for Observation.subject or Observation.note")
	}
	if b := LookupElement("Patient.gender").Binding; b == nil || b.URL != "http://hl7.org/fhir/ValueSet/administrative-gender" {
		t.Errorf("Patient.gender binding: %+v", b)
	}
	if low := LookupElement("Observation.referenceRange.low"); low.Types[0].Profile != "SimpleQuantity" {
		t.Errorf("referenceRange.low profile %q", low.Types[0].Profile)
	}
	if el, tp := LookupType("Observation").Member("valueQuantity"); el == nil || el.Name != "value[x]" || tp.Code != "Quantity" {
		t.Errorf("Member(valueQuantity) = %v, %v", el, tp)
	}
	if cr := LookupElement("Questionnaire.item.item"); cr.ContentReference != "#Questionnaire.item" || len(cr.Elements()) == 0 {
		t.Errorf("Questionnaire.item.item: %q with %d children", cr.ContentReference, len(cr.Elements()))
	}
}

func TestTypes(t *testing.T) {
	if len(ResourceTypes) != 146 || !slices.IsSorted(ResourceTypes) {
		t.Errorf("ResourceTypes: %d, sorted %v", len(ResourceTypes), slices.IsSorted(ResourceTypes))
	}
	for name, want := range map[string]bool{"Patient": true, "Parameters": true, "Resource": false, "DomainResource": false, "HumanName": false, "SubscriptionStatus": false} {
		if IsResourceType(name) != want {
			t.Errorf("IsResourceType(%s) = %v", name, !want)
		}
	}
	for name, kind := range map[string]TypeKind{"date": PrimitiveKind, "HumanName": ComplexKind, "Patient": ResourceKind, "SimpleQuantity": ComplexKind} {
		if def := LookupType(name); def == nil || def.Kind != kind {
			t.Errorf("LookupType(%s) = %+v", name, def)
		}
	}
	if def := LookupType("Resource"); !def.Abstract {
		t.Error("Resource is not abstract")
	}
}

func TestValueSets(t *testing.T) {
	gender := LookupValueSet("http://hl7.org/fhir/ValueSet/administrative-gender")
	if gender == nil || !gender.Enumerable || len(gender.Codes) != 4 || !gender.HasCode("unknown") || gender.HasCode("F") {
		t.Fatalf("administrative-gender: %+v", gender)
	}
	if !gender.Contains("http://hl7.org/fhir/administrative-gender", "male") || gender.Contains("http://other", "male") {
		t.Error("Contains ignores the system")
	}
	if ucum := LookupValueSet("http://hl7.org/fhir/ValueSet/ucum-units"); ucum == nil || ucum.Enumerable || ucum.Reason == "" {
		t.Errorf("ucum-units should be known and not enumerable: %+v", ucum)
	}
	// A value set built from a whole code system with nested concepts.
	if types := LookupValueSet("http://hl7.org/fhir/ValueSet/resource-types"); types == nil || !types.HasCode("Patient") || !types.HasCode("Parameters") {
		t.Errorf("resource-types: %+v", types)
	}
}

func TestSearchParams(t *testing.T) {
	given := LookupSearchParam("Patient", "given")
	if given == nil || given.Type != "string" || given.Expression != "Patient.name.given | Practitioner.name.given" ||
		given.URL != "http://hl7.org/fhir/SearchParameter/individual-given" || given.Description != "A portion of the given name of the patient" {
		t.Errorf("Patient given: %+v", given)
	}
	if id := LookupSearchParam("Observation", "_id"); id == nil || id.Base != "Resource" {
		t.Errorf("inherited _id: %+v", id)
	}
	if text := LookupSearchParam("Bundle", "_text"); text != nil {
		t.Error("Bundle is not a DomainResource, so it has no _text")
	}
	subject := LookupSearchParam("Observation", "subject")
	if subject == nil || subject.Type != "reference" || !slices.Contains(subject.Targets, "Patient") {
		t.Errorf("Observation subject: %+v", subject)
	}
	if cvq := LookupSearchParam("Observation", "code-value-quantity"); cvq == nil || len(cvq.Components) != 2 {
		t.Errorf("composite: %+v", cvq)
	}
	params := SearchParams("Patient")
	if len(params) < 20 || !slices.IsSortedFunc(params, func(a, b SearchParam) int { return strings.Compare(a.Code, b.Code) }) {
		t.Errorf("SearchParams(Patient): %d, not sorted", len(params))
	}
	if len(SearchParams("Nope")) != 0 {
		t.Error("SearchParams of an unknown type")
	}
	if LookupSearchParam("DeviceDefinition", "classification") != nil {
		t.Error("the R5 parameter DeviceDefinition-classification leaked into R4")
	}
}

func TestPatientCompartment(t *testing.T) {
	for typ, want := range map[string][]string{
		"Observation": {"subject", "performer"},
		"Patient":     {"link"},
		"Appointment": {"actor"},
		"Binary":      nil,
		"Nope":        nil,
	} {
		if got := PatientCompartmentParams(typ); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", typ, got, want)
		}
	}
	if !slices.IsSortedFunc(PatientCompartment, func(a, b CompartmentMember) int { return strings.Compare(a.ResourceType, b.ResourceType) }) {
		t.Error("PatientCompartment is not sorted")
	}
}
