package fhir

import (
	"os"
	"strings"
	"testing"
)

func mustResource(t testing.TB, js string) *Resource {
	t.Helper()
	v, err := ParseJSON([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ResourceFromValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fixture(t testing.TB, name string) *Resource {
	t.Helper()
	data, err := os.ReadFile(fixtureDir + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseResource(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// render prints a result compactly: primitives as their text, objects as Type, resolved
// references as Type().
func render(ns []PathNode) string {
	var parts []string
	for _, n := range ns {
		switch {
		case n.Value == nil:
			parts = append(parts, n.Type+"()")
		case n.Value.Kind == Object:
			parts = append(parts, n.Type)
		default:
			parts = append(parts, n.Value.Text)
		}
	}
	return strings.Join(parts, ",")
}

const pathTestObservation = `{"resourceType":"Observation","id":"bp",
 "contained":[{"resourceType":"Patient","id":"p1"}],
 "extension":[{"url":"http://x/ext","valueString":"hello"},{"url":"http://x/other","valueBoolean":true}],
 "status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}],"text":"BP"},
 "subject":{"reference":"#p1"},
 "performer":[{"reference":"Practitioner/1/_history/2"},{"reference":"https://other.example/fhir/Organization/9"},{"type":"RelatedPerson","identifier":{"value":"x"}}],
 "effectivePeriod":{"start":"2024-01-01"},
 "component":[
  {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"unit":"mmHg"}},
  {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueString":"eighty"}]}`

func TestPathEval(t *testing.T) {
	obs := mustResource(t, pathTestObservation)
	pat := fixture(t, "patient-full.json")
	tests := []struct {
		res  *Resource
		expr string
		want string
	}{
		{obs, "Observation.status", "final"},
		{obs, "status", "final"},
		{obs, "Patient.gender", ""},
		{obs, "Observation.code.coding.code", "85354-9"},
		{obs, "Observation.code.coding[0].system", "http://loinc.org"},
		{obs, "Observation.component[1].code.coding.code", "8462-4"},
		{obs, "Observation.component.value", "Quantity,eighty"},
		{obs, "Observation.component.value as Quantity", "Quantity"},
		{obs, "(Observation.component.value as Quantity).unit", "mmHg"},
		{obs, "Observation.component.value.as(string)", "eighty"},
		{obs, "Observation.component.value.ofType(Quantity).value", "120"},
		{obs, "Observation.effective", "Period"},
		{obs, "Observation.component.valueQuantity.value", "120"},
		{obs, "Observation.effectivePeriod.start", "2024-01-01"},
		{obs, "Observation.effective as dateTime", ""},
		{obs, "(Observation.effective as Period).start", "2024-01-01"},
		{obs, "Observation.effective is Period", "true"},
		{obs, "Observation.code.coding.code | Observation.component.code.coding.code", "85354-9,8480-6,8462-4"},
		{obs, "Observation.status | Observation.status", "final"},
		{obs, "Observation.subject.where(resolve() is Patient)", "Reference"},
		{obs, "Observation.subject.resolve()", "Patient"},
		{obs, "Observation.performer.resolve()", "Practitioner(),Organization(),RelatedPerson()"},
		{obs, "Observation.performer.where(resolve() is Organization).reference", "https://other.example/fhir/Organization/9"},
		{obs, "Observation.performer.where(resolve() is Resource)", "Reference,Reference,Reference"},
		{obs, "Observation.extension('http://x/ext').value", "hello"},
		{obs, "Observation.extension.where(url = 'http://x/other').value", "true"},
		{obs, "Observation.extension.where(url != 'http://x/other').value as string", "hello"},
		{obs, "Observation.extension.where(url = 'http://x/ext' or url = 'http://x/other').url", "http://x/ext,http://x/other"},
		{obs, "Observation.extension.where(url = 'http://x/ext' and value = 'hello').url", "http://x/ext"},
		{obs, "Observation.status.exists()", "true"},
		{obs, "Observation.issued.exists()", "false"},
		{obs, "Observation.component.exists(code.coding.code = '8462-4')", "true"},
		{obs, "Observation.issued.empty()", "true"},
		{obs, "Observation.component.first().code.coding.code", "8480-6"},
		{obs, "Observation.status.value", "final"},
		{obs, "%resource.id", "bp"},
		{obs, "Observation.status = 'final'", "true"},
		{obs, "Observation.status != 'final'", "false"},
		{obs, "Observation.issued = 'x'", ""},
		{pat, "Patient.deceased.exists() and Patient.deceased != false", "false"},
		{pat, "Patient.name.where(use = 'official').family", "Álvarez"},
		{pat, "Patient.telecom.where(system='email').value", "maria.alvarez@example.org"},
		{pat, "Patient.extension('http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex').value", "F"},
		{pat, "Resource.id", "pat-maria-alvarez"},
		{pat, "DomainResource.id", "pat-maria-alvarez"},
	}
	for _, tt := range tests {
		e, err := CompilePath(tt.res.Type(), tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		got := render(e.EvalNodes(&tt.res.Root, []PathNode{NodeOf(&tt.res.Root)}))
		if got != tt.want {
			t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestPathDeceased(t *testing.T) {
	e, err := CompilePath("Patient", "Patient.deceased.exists() and Patient.deceased != false")
	if err != nil {
		t.Fatal(err)
	}
	for js, want := range map[string]string{
		`{"resourceType":"Patient"}`:                                 "false",
		`{"resourceType":"Patient","deceasedBoolean":false}`:         "false",
		`{"resourceType":"Patient","deceasedBoolean":true}`:          "true",
		`{"resourceType":"Patient","deceasedDateTime":"2020-01-01"}`: "true",
	} {
		r := mustResource(t, js)
		if got := render(e.Eval(&r.Root, &r.Root, "Patient")); got != want {
			t.Errorf("%s: %q, want %q", js, got, want)
		}
	}
}

func TestPathCompileErrors(t *testing.T) {
	for _, tt := range []struct{ base, expr, want string }{
		{"Patient", "Patient.nmae", `no element "nmae"`},
		{"Patient", "Patient.name.foo()", "unsupported function foo()"},
		{"Patient", "Patient.name as Foo", `unknown type "Foo"`},
		{"Patient", "Patient.name.where(", "unexpected end"},
		{"Patient", "Patient.name)", `unexpected ")"`},
		{"Patient", "Patient.name +", "unsupported character"},
		{"Patient", "Patient.name.where()", "where() takes 1 argument"},
		{"Patient", "'abc", "unterminated string"},
		{"Patient", "Patient.name[x]", "only integer indexers"},
		{"Nope", "Nope.x", "unknown"},
	} {
		_, err := CompilePath(tt.base, tt.expr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.expr, err, tt.want)
		}
	}
}

// TestPathPrune: a shared expression compiled for one type keeps only that type's branch.
func TestPathPrune(t *testing.T) {
	e, err := CompilePath("Condition", exprClinicalPatient)
	if err != nil {
		t.Fatal(err)
	}
	if e.root.op == opUnion {
		t.Errorf("union not pruned for Condition")
	}
	r := mustResource(t, `{"resourceType":"Condition","subject":{"reference":"Patient/1"}}`)
	if got := render(e.Eval(&r.Root, &r.Root, "Condition")); got != "Reference" {
		t.Errorf("got %q", got)
	}
}

func TestParseReference(t *testing.T) {
	for _, tt := range []struct{ in, typ, id, url string }{
		{"Patient/123", "Patient", "123", ""},
		{"Patient/123/_history/4", "Patient", "123", ""},
		{"https://x.org/fhir/Patient/123", "Patient", "123", "https://x.org/fhir/Patient/123"},
		{"https://x.org/fhir/Patient/123/_history/2", "Patient", "123", "https://x.org/fhir/Patient/123"},
		{"http://hl7.org/fhir/Questionnaire/q|1.0", "Questionnaire", "q", "http://hl7.org/fhir/Questionnaire/q"},
		{"urn:uuid:0b5e", "", "", "urn:uuid:0b5e"},
		{"123", "", "", ""},
		{"#c1", "", "", ""},
		{"Foo/1", "", "", ""},
		{"a/Patient/1", "", "", ""},
	} {
		typ, id, url := ParseReference(tt.in)
		if typ != tt.typ || id != tt.id || url != tt.url {
			t.Errorf("ParseReference(%q) = %q %q %q, want %q %q %q", tt.in, typ, id, url, tt.typ, tt.id, tt.url)
		}
	}
}
