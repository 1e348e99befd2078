package fhirpatch

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portico-health/portico/fhir"
)

// op builds one operation parameter: its type, path and further parts (JSON of part objects).
func op(typ, path string, parts ...string) string {
	all := append([]string{`{"name":"type","valueCode":"` + typ + `"}`, `{"name":"path","valueString":` + quote(path) + `}`}, parts...)
	return `{"name":"operation","part":[` + strings.Join(all, ",") + `]}`
}

func quote(s string) string { return string(fhir.AppendJSON(nil, fhir.Str(s))) }

func params(ops ...string) string {
	if len(ops) == 0 {
		return `{"resourceType":"Parameters"}`
	}
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ops, ",") + `]}`
}

func name(n string) string { return `{"name":"name","valueString":"` + n + `"}` }

func value(member string) string { return `{"name":"value",` + member + `}` }

func intPart(n, v string) string { return `{"name":"` + n + `","valueInteger":` + v + `}` }

func mustJSON(t *testing.T, s string) fhir.Value {
	t.Helper()
	v, err := fhir.ParseJSON([]byte(s))
	if err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return v
}

// run decodes and applies a patch; the result is compact JSON.
func run(t *testing.T, resource, patch string) (string, error) {
	t.Helper()
	p, err := Decode(mustJSON(t, patch))
	if err != nil {
		return "", err
	}
	doc := mustJSON(t, resource)
	before := string(fhir.AppendJSON(nil, doc))
	out, err := p.Apply(t.Context(), doc, 0)
	if after := string(fhir.AppendJSON(nil, doc)); after != before {
		t.Errorf("Apply changed its input:\n%s\n%s", before, after)
	}
	if err != nil {
		return "", err
	}
	return string(fhir.AppendJSON(nil, out)), nil
}

func compact(t *testing.T, s string) string {
	t.Helper()
	return string(fhir.AppendJSON(nil, mustJSON(t, s)))
}

const (
	ids2 = `{"resourceType":"Patient","identifier":[{"system":"http://example.org","value":"value 1"},{"system":"http://example.org","value":"value 2"}]}`
	ids3 = `{"resourceType":"Patient","identifier":[{"system":"http://example.org","value":"value 1"},{"system":"http://example.org","value":"value 2"},{"system":"http://example.org","value":"value 3"}]}`
	ids4 = `{"resourceType":"Patient","identifier":[{"system":"http://example.org","value":"value 1"},{"system":"http://example.org","value":"value 2"},{"system":"http://example.org","value":"value 3"},{"system":"http://example.org","value":"value 4"}]}`
)

// idsIn is a Patient with identifiers "value n" in the order given.
func idsIn(order ...string) string {
	var items []string
	for _, n := range order {
		items = append(items, `{"system":"http://example.org","value":"value `+n+`"}`)
	}
	return `{"resourceType":"Patient","identifier":[` + strings.Join(items, ",") + `]}`
}

// TestSpecCases are the cases of the FHIRPath Patch test suite the specification points to
// (fhir-test-cases, r4/patch/fhir-path-tests.xml), in JSON, with the examples of the R4 page
// (fhirpatch.html: adding birthDate, adding a contact as an anonymous type).
func TestSpecCases(t *testing.T) {
	contact := `{"resourceType":"Patient","contact":[{"name":{"text":"a name"},"gender":"male"}]}`
	for _, c := range []struct {
		name, in, patch, want string
	}{
		{"No Difference", `{"resourceType":"Patient","birthDate":"1920-01-01"}`, params(), `{"resourceType":"Patient","birthDate":"1920-01-01"}`},
		{"Replace Primitive", `{"resourceType":"Patient","birthDate":"1920-01-01"}`,
			params(op("replace", "Patient.birthDate", value(`"valueDate":"1930-01-01"`))), `{"resourceType":"Patient","birthDate":"1930-01-01"}`},
		{"Delete Primitive", `{"resourceType":"Patient","birthDate":"1920-01-01"}`,
			params(op("delete", "Patient.birthDate")), `{"resourceType":"Patient"}`},
		{"Add Primitive (the spec's first example)", `{"resourceType":"Patient"}`,
			params(op("add", "Patient", name("birthDate"), value(`"valueDate":"1930-01-01"`))), `{"resourceType":"Patient","birthDate":"1930-01-01"}`},
		{"Replace Nested Primitive #1", contact, params(op("replace", "Patient.contact[0].gender", value(`"valueCode":"female"`))),
			`{"resourceType":"Patient","contact":[{"name":{"text":"a name"},"gender":"female"}]}`},
		{"Replace Nested Primitive #2", contact, params(op("replace", "Patient.contact[0].name.text", value(`"valueString":"the name"`))),
			`{"resourceType":"Patient","contact":[{"name":{"text":"the name"},"gender":"male"}]}`},
		{"Delete Nested Primitive #1", contact, params(op("delete", "Patient.contact[0].gender")),
			`{"resourceType":"Patient","contact":[{"name":{"text":"a name"}}]}`},
		{"Delete Nested Primitive #2 (the emptied name goes)", contact, params(op("delete", "Patient.contact[0].name.text")),
			`{"resourceType":"Patient","contact":[{"gender":"male"}]}`},
		{"Add Nested Primitive", `{"resourceType":"Patient","contact":[{"name":{"text":"a name"}}]}`,
			params(op("add", "Patient.contact[0]", name("gender"), value(`"valueCode":"male"`))), contact},
		{"Add Complex", `{"resourceType":"Patient"}`,
			params(op("add", "Patient", name("maritalStatus"), value(`"valueCodeableConcept":{"text":"married"}`))),
			`{"resourceType":"Patient","maritalStatus":{"text":"married"}}`},
		{"Replace Complex", `{"resourceType":"Patient","maritalStatus":{"id":"1","text":"married"}}`,
			params(op("replace", "Patient.maritalStatus", value(`"valueCodeableConcept":{"id":"2","text":"not married"}`))),
			`{"resourceType":"Patient","maritalStatus":{"id":"2","text":"not married"}}`},
		{"Delete Complex", `{"resourceType":"Patient","maritalStatus":{"text":"married"}}`,
			params(op("delete", "Patient.maritalStatus")), `{"resourceType":"Patient"}`},
		{"Add Anonymous Type (the spec's second example)", `{"resourceType":"Patient"}`,
			params(op("add", "Patient", name("contact"), `{"name":"value","part":[{"name":"name","valueHumanName":{"text":"a name"}}]}`)),
			`{"resourceType":"Patient","contact":[{"name":{"text":"a name"}}]}`},
		{"Delete Anonymous Type", `{"resourceType":"Patient","contact":[{"name":{"text":"a name"}}]}`,
			params(op("delete", "Patient.contact[0]")), `{"resourceType":"Patient"}`},
		{"List unchanged", ids2, params(), ids2},
		{"List unchanged, contents changed",
			`{"resourceType":"Patient","identifier":[{"id":"a","system":"http://example.org","value":"value 1"},{"id":"b","system":"http://example.org","value":"value 2"}]}`,
			params(op("replace", "Patient.identifier[0].value", value(`"valueString":"value 2"`)), op("replace", "Patient.identifier[1].value", value(`"valueString":"value 1"`))),
			`{"resourceType":"Patient","identifier":[{"id":"a","system":"http://example.org","value":"value 2"},{"id":"b","system":"http://example.org","value":"value 1"}]}`},
		{"Add to list", ids2, params(op("insert", "Patient.identifier", intPart("index", "2"), value(`"valueIdentifier":{"system":"http://example.org","value":"value 3"}`))), idsIn("1", "2", "3")},
		{"Insert in list #1", ids2, params(op("insert", "Patient.identifier", intPart("index", "1"), value(`"valueIdentifier":{"system":"http://example.org","value":"value 3"}`))), idsIn("1", "3", "2")},
		{"Insert in list #2", ids2, params(op("insert", "Patient.identifier", intPart("index", "0"), value(`"valueIdentifier":{"system":"http://example.org","value":"value 3"}`))), idsIn("3", "1", "2")},
		{"Delete from List #1", ids3, params(op("delete", "Patient.identifier[0]")), idsIn("2", "3")},
		{"Delete from List #2", ids3, params(op("delete", "Patient.identifier[1]")), idsIn("1", "3")},
		{"Delete from List #3", ids3, params(op("delete", "Patient.identifier[2]")), idsIn("1", "2")},
		{"Reorder List #1", ids4, params(op("move", "Patient.identifier", intPart("source", "3"), intPart("destination", "1"))), idsIn("1", "4", "2", "3")},
		{"Reorder List #2", ids4, params(op("move", "Patient.identifier", intPart("source", "3"), intPart("destination", "0"))), idsIn("4", "1", "2", "3")},
		{"Reorder List #3", ids4, params(op("move", "Patient.identifier", intPart("source", "3"), intPart("destination", "2"))), idsIn("1", "2", "4", "3")},
		{"Reorder List #4", ids4, params(op("move", "Patient.identifier", intPart("source", "0"), intPart("destination", "3"))), idsIn("2", "3", "4", "1")},
		{"Reorder List #5", ids4, params(op("move", "Patient.identifier", intPart("source", "1"), intPart("destination", "0")),
			op("move", "Patient.identifier", intPart("source", "2"), intPart("destination", "1"))), idsIn("2", "3", "1", "4")},
		{"Reorder List #6", ids4, params(op("move", "Patient.identifier", intPart("source", "3"), intPart("destination", "0")),
			op("move", "Patient.identifier", intPart("source", "3"), intPart("destination", "1")),
			op("move", "Patient.identifier", intPart("source", "3"), intPart("destination", "2"))), idsIn("4", "3", "2", "1")},
		{"Operation on missing element #2", `{"resourceType":"Patient"}`,
			params(op("add", "Patient", name("identifier"), value(`"valueIdentifier":{"system":"http://example.org","value":"value 3"}`))), idsIn("3")},
		{"Full Resource", `{"resourceType":"Patient","id":"example",
			"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><b>Chalmers</b></div>"},
			"identifier":[{"use":"usual","system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],"active":true,
			"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]},{"use":"usual","given":["Jim"]}],
			"gender":"male","birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]},
			"deceasedBoolean":false,"managingOrganization":{"reference":"Organization/1"}}`,
			params(op("replace", "Patient.text.div", value(`"valueString":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><b>Chalmers1</b></div>"`)),
				op("replace", "Patient.name[0].family", value(`"valueString":"Chalmers1"`))),
			`{"resourceType":"Patient","id":"example",
			"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><b>Chalmers1</b></div>"},
			"identifier":[{"use":"usual","system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],"active":true,
			"name":[{"use":"official","family":"Chalmers1","given":["Peter","James"]},{"use":"usual","given":["Jim"]}],
			"gender":"male","birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]},
			"deceasedBoolean":false,"managingOrganization":{"reference":"Organization/1"}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := run(t, c.in, c.patch)
			if err != nil {
				t.Fatal(err)
			}
			if want := compact(t, c.want); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if _, err := fhir.ResourceFromValue(mustJSON(t, got)); err != nil {
				t.Errorf("the result is not a valid resource: %v", err)
			}
		})
	}

	// "Operation on missing element": add into an element that is not there is an error.
	_, err := run(t, `{"resourceType":"Patient","identifier":[{"use":"official","value":"123"}]}`,
		params(op("add", "Patient.identifier.where(use = 'official').period", name("end"), value(`"valueDate":"2021-12-01"`))))
	var ae *ApplyError
	if !errors.As(err, &ae) || !strings.Contains(ae.Msg, "no element matches") {
		t.Errorf("add under a missing element: %v", err)
	}
}

// TestPaths: where(...) with strings, numbers, booleans and $this, and/or several comparisons;
// first(), last(); a path without the type name; choice elements by name or JSON name;
// contained resources.
func TestPaths(t *testing.T) {
	pat := `{"resourceType":"Patient",
		"identifier":[{"use":"official","system":"urn:a","value":"1"},{"use":"secondary","system":"urn:a","value":"2"},{"use":"official","system":"urn:b","value":"3"}],
		"name":[{"family":"Chalmers","given":["Peter","James"],"_given":[null,{"extension":[{"url":"http://example.org/x","valueString":"y"}]}]}],
		"telecom":[{"system":"phone","value":"1","rank":2},{"system":"phone","value":"2","rank":1}],
		"communication":[{"language":{"text":"fr"},"preferred":false},{"language":{"text":"en"},"preferred":true}],
		"contained":[{"resourceType":"Practitioner","id":"gp","name":[{"family":"Old"}]}],
		"generalPractitioner":[{"reference":"#gp"}]}`
	for _, c := range []struct{ name, patch, check string }{
		{"where with and", params(op("replace", "Patient.identifier.where(use = 'official' and system = 'urn:b').value", value(`"valueString":"33"`))), `"value":"33"`},
		{"literal first", params(op("replace", "identifier.where('urn:b' = system).value", value(`"valueString":"34"`))), `"value":"34"`},
		{"where on a number", params(op("replace", "Patient.telecom.where(rank = 1.0).value", value(`"valueString":"22"`))), `"value":"22","rank":1`},
		{"where on a boolean", params(op("replace", "Patient.communication.where(preferred = true).language.text", value(`"valueString":"en-GB"`))), `"text":"en-GB"`},
		{"where on $this keeps the extension list aligned", params(op("delete", "Patient.name.given.where($this = 'Peter')")),
			`"given":["James"],"_given":[{"extension":[{"url":"http://example.org/x","valueString":"y"}]}]`},
		{"insert into a primitive list with extensions", params(op("insert", "Patient.name[0].given", intPart("index", "0"), value(`"valueString":"Dr"`))),
			`"given":["Dr","Peter","James"],"_given":[null,null,{"extension"`},
		{"first()", params(op("replace", "Patient.identifier.first().value", value(`"valueString":"10"`))), `"use":"official","system":"urn:a","value":"10"`},
		{"last()", params(op("replace", "Patient.identifier.last().value", value(`"valueString":"30"`))), `"system":"urn:b","value":"30"`},
		{"index after where", params(op("delete", "Patient.identifier.where(use = 'official')[1]")), ""}, // checked below
		{"contained resource", params(op("replace", "Patient.contained[0].name[0].family", value(`"valueString":"New"`))), `"name":[{"family":"New"}]`},
		{"a delimited identifier", params(op("replace", "Patient.`name`[0].family", value(`"valueString":"X"`))), `"family":"X"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := run(t, pat, c.patch)
			if err != nil {
				t.Fatal(err)
			}
			if c.check != "" && !strings.Contains(got, c.check) {
				t.Errorf("%s lacks %s", got, c.check)
			}
			if _, err := fhir.ResourceFromValue(mustJSON(t, got)); err != nil {
				t.Errorf("the result is not a valid resource: %v", err)
			}
			if c.name == "index after where" && (strings.Contains(got, `"value":"3"`) || !strings.Contains(got, `"value":"1"`)) {
				t.Errorf("deleted the wrong identifier: %s", got)
			}
		})
	}

	obs := `{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":37.50,"unit":"Cel"},"note":[{"text":"a"}]}`
	for _, c := range []struct{ name, patch, want string }{
		{"a choice element changes type in place", params(op("replace", "Observation.value", value(`"valueString":"high"`))),
			`{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueString":"high","note":[{"text":"a"}]}`},
		{"a choice element by its JSON name; decimals kept", params(op("replace", "Observation.valueQuantity.unit", value(`"valueString":"C"`))),
			`{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":37.50,"unit":"C"},"note":[{"text":"a"}]}`},
		{"add a choice element by its name", params(op("delete", "Observation.value"), op("add", "Observation", name("effective"), value(`"valueDateTime":"2024-05-01"`))),
			`{"resourceType":"Observation","status":"final","code":{"text":"t"},"note":[{"text":"a"}],"effectiveDateTime":"2024-05-01"}`},
		{"anonymous type with a repeating part and a choice", params(op("add", "Observation", name("component"),
			`{"name":"value","part":[{"name":"code","valueCodeableConcept":{"text":"c"}},{"name":"value","valueQuantity":{"value":1}},{"name":"interpretation","valueCodeableConcept":{"text":"n"}}]}`)),
			`{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":37.50,"unit":"Cel"},"note":[{"text":"a"}],"component":[{"code":{"text":"c"},"valueQuantity":{"value":1},"interpretation":[{"text":"n"}]}]}`},
		{"a complex type built from parts", params(op("add", "Observation", name("method"),
			`{"name":"value","part":[{"name":"coding","valueCoding":{"code":"x"}},{"name":"coding","valueCoding":{"code":"y"}},{"name":"text","valueString":"m"}]}`)),
			`{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":37.50,"unit":"Cel"},"note":[{"text":"a"}],"method":{"coding":[{"code":"x"},{"code":"y"}],"text":"m"}}`},
		{"a primitive's extensions travel with it", params(op("replace", "Observation.status",
			`{"name":"value","valueCode":"amended","_valueCode":{"extension":[{"url":"http://example.org/why","valueString":"typo"}]}}`)),
			`{"resourceType":"Observation","status":"amended","code":{"text":"t"},"valueQuantity":{"value":37.50,"unit":"Cel"},"note":[{"text":"a"}],"_status":{"extension":[{"url":"http://example.org/why","valueString":"typo"}]}}`},
		{"delete of nothing changes nothing", params(op("delete", "Observation.subject")), obs},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := run(t, obs, c.patch)
			if err != nil {
				t.Fatal(err)
			}
			if want := compact(t, c.want); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestApplyErrors: what cannot apply is an *ApplyError naming the operation.
func TestApplyErrors(t *testing.T) {
	for _, c := range []struct{ name, in, patch, msg string }{
		{"replace: no match", ids2, params(op("replace", "Patient.birthDate", value(`"valueDate":"2000-01-01"`))), "no element matches"},
		{"replace: several matches", ids2, params(op("replace", "Patient.identifier.value", value(`"valueString":"x"`))), "matches 2 elements"},
		{"delete: several matches", ids2, params(op("delete", "Patient.identifier")), "matches 2 elements"},
		{"add: exists already", `{"resourceType":"Patient","gender":"male"}`, params(op("add", "Patient", name("gender"), value(`"valueCode":"female"`))), "there already"},
		{"add: a choice exists already", `{"resourceType":"Patient","deceasedBoolean":false}`, params(op("add", "Patient", name("deceased"), value(`"valueDateTime":"2020"`))), "there already"},
		{"add: unknown element", `{"resourceType":"Patient"}`, params(op("add", "Patient", name("nickname"), value(`"valueString":"x"`))), `no element "nickname"`},
		{"add: into a primitive", `{"resourceType":"Patient","gender":"male"}`, params(op("add", "Patient.gender", name("id"), value(`"valueString":"x"`))), "no children"},
		{"path: unknown element", ids2, params(op("delete", "Patient.identifer")), `no element "identifer"`},
		{"path: into a primitive", ids2, params(op("delete", "Patient.identifier.value.length")), "is a primitive"},
		{"path: another resource type", ids2, params(op("delete", "Observation.status")), "the resource is a Patient"},
		{"type does not fit", `{"resourceType":"Patient","maritalStatus":{"text":"m"}}`, params(op("replace", "Patient.maritalStatus", value(`"valueHumanName":{"text":"x"}`))), "does not fit"},
		{"type does not fit a choice", `{"resourceType":"Patient"}`, params(op("add", "Patient", name("deceased"), value(`"valueString":"x"`))), "does not fit"},
		{"parts for a primitive", `{"resourceType":"Patient"}`, params(op("add", "Patient", name("gender"), `{"name":"value","part":[{"name":"x","valueString":"y"}]}`)), "not parts"},
		{"unknown part element", `{"resourceType":"Patient"}`, params(op("add", "Patient", name("contact"), `{"name":"value","part":[{"name":"nom","valueString":"y"}]}`)), `no element "nom"`},
		{"non-repeating part twice", `{"resourceType":"Patient"}`, params(op("add", "Patient", name("contact"), `{"name":"value","part":[{"name":"gender","valueCode":"male"},{"name":"gender","valueCode":"female"}]}`)), "given twice"},
		{"insert: index out of range", ids2, params(op("insert", "Patient.identifier", intPart("index", "3"), value(`"valueIdentifier":{"value":"x"}`))), "out of range"},
		{"insert: no list", `{"resourceType":"Patient"}`, params(op("insert", "Patient.identifier", intPart("index", "0"), value(`"valueIdentifier":{"value":"x"}`))), "no element matches"},
		{"insert: some items of a list", ids3, params(op("insert", "Patient.identifier.where(value = 'value 2')", intPart("index", "0"), value(`"valueIdentifier":{"value":"x"}`))), "whole list"},
		{"insert: not a list", `{"resourceType":"Patient","gender":"male"}`, params(op("insert", "Patient.gender", intPart("index", "0"), value(`"valueCode":"male"`))), "whole list"},
		{"insert: wrong type", ids2, params(op("insert", "Patient.identifier", intPart("index", "0"), value(`"valueHumanName":{"text":"x"}`))), "does not fit"},
		{"move: source out of range", ids3, params(op("move", "Patient.identifier", intPart("source", "3"), intPart("destination", "0"))), "source 3 is out of range"},
		{"move: destination out of range", ids3, params(op("move", "Patient.identifier", intPart("source", "0"), intPart("destination", "3"))), "destination 3 is out of range"},
		{"delete the resource", ids2, params(op("delete", "Patient")), "the resource itself"},
		{"replace the resource", ids2, params(op("replace", "Patient", value(`"resource":{"resourceType":"Patient"}`))), "the resource itself"},
		{"the second operation fails", ids3, params(op("delete", "Patient.identifier[0]"), op("delete", "Patient.identifier")), "operation 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := run(t, c.in, c.patch)
			var ae *ApplyError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an *ApplyError", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%q does not say %q", err, c.msg)
			}
		})
	}

	// The limit on the result's size.
	p, err := Decode(mustJSON(t, params(op("add", "Patient", name("identifier"), value(`"valueIdentifier":{"value":"`+strings.Repeat("x", 500)+`"}`)))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(t.Context(), mustJSON(t, ids2), 400); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := p.Apply(t.Context(), mustJSON(t, ids2), 2000); err != nil {
		t.Errorf("under the limit: %v", err)
	}
}

// TestDecodeErrors: a Parameters that is no FHIRPath Patch, or uses what is not supported, is
// a *DocumentError.
func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct{ name, patch, msg string }{
		{"not Parameters", `{"resourceType":"Patient"}`, "Parameters"},
		{"another parameter name", `{"resourceType":"Parameters","parameter":[{"name":"op","part":[]}]}`, "named operation"},
		{"an operation with a value", `{"resourceType":"Parameters","parameter":[{"name":"operation","valueString":"x"}]}`, "parts, not a value"},
		{"no type", `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"path","valueString":"Patient"}]}]}`, `"type" part`},
		{"unknown type", params(op("merge", "Patient")), "not add, insert"},
		{"missing part", params(op("add", "Patient", name("gender"))), `needs a "value" part`},
		{"extra part", params(op("delete", "Patient.gender", value(`"valueCode":"x"`))), `takes no "value" part`},
		{"part given twice", params(op("delete", "Patient.gender", `{"name":"path","valueString":"Patient.gender"}`)), "given twice"},
		{"negative index", params(op("insert", "Patient.identifier", intPart("index", "-1"), value(`"valueIdentifier":{}`))), "negative"},
		{"index not an integer", params(op("insert", "Patient.identifier", `{"name":"index","valueString":"1"}`, value(`"valueIdentifier":{}`))), "valueInteger"},
		{"value and parts", params(op("replace", "Patient.gender", `{"name":"value","valueCode":"male","part":[{"name":"x","valueString":"y"}]}`)), "exactly one of"},
		{"no value", params(op("replace", "Patient.gender", `{"name":"value"}`)), "exactly one of"},
		{"empty path", params(op("delete", "")), `"path" part`},
		{"resolve()", params(op("delete", "Observation.subject.resolve().name")), "resolve() is not supported"},
		{"ofType()", params(op("delete", "Observation.value.ofType(Quantity)")), "ofType() is not supported"},
		{"!=", params(op("delete", "Patient.identifier.where(use != 'old')")), "only = is supported"},
		{"or", params(op("delete", "Patient.identifier.where(use = 'old' or use = 'temp')")), "joined by and"},
		{"a function inside where", params(op("delete", "Patient.identifier.where(value.exists())")), "not supported inside where"},
		{"a date literal", params(op("delete", "Patient.identifier.where(period.start = @2020)")), "is not supported"},
		{"union", params(op("delete", "Patient.name | Patient.telecom")), "is not supported"},
		{"unterminated string", params(op("delete", "Patient.identifier.where(use = 'old)")), "unterminated"},
		{"bad index", params(op("delete", "Patient.identifier[x]")), "non-negative integer"},
		{"trailing dot", params(op("delete", "Patient.")), "expected an element name"},
		{"too many operations", params(strings.Repeat(op("delete", "Patient.gender")+",", MaxOperations) + op("delete", "Patient.gender")), "at most"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(mustJSON(t, c.patch))
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DocumentError", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%q does not say %q", err, c.msg)
			}
			// FHIRPath beyond the subset is told apart from a malformed document.
			beyond := map[string]bool{"resolve()": true, "ofType()": true, "!=": true, "or": true, "a function inside where": true,
				"a date literal": true, "union": true}
			if want := beyond[c.name]; de.Unsupported != want {
				t.Errorf("Unsupported = %v for %q", de.Unsupported, err)
			}
		})
	}
}

// TestApplyStopsWhenCancelled: a patch whose request ended stops before its next operation.
func TestApplyStopsWhenCancelled(t *testing.T) {
	p, err := Decode(mustJSON(t, `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[
		{"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.name"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Apply(ctx, mustJSON(t, `{"resourceType":"Patient","name":[{"family":"x"}]}`), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with an ended context: %v, want context.Canceled", err)
	}
}
