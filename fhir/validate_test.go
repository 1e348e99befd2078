package fhir

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Each case is a resource with exactly one problem, and the issue it must produce.
var rejectionCases = []struct {
	name, json string
	code, expr string // expr "" when the issue has no location
}{
	// Not a resource at all (400).
	{"not an object", `[]`, "structure", ""},
	{"missing resourceType", `{"id":"a"}`, "structure", ""},
	{"resourceType not a string", `{"resourceType":1}`, "structure", "resourceType"},
	{"unknown resourceType", `{"resourceType":"Patientt"}`, "structure", "resourceType"},
	{"datatype as resourceType", `{"resourceType":"HumanName"}`, "structure", "resourceType"},
	{"abstract resourceType", `{"resourceType":"DomainResource"}`, "structure", "resourceType"},

	// Shape of elements (400).
	{"unknown element", `{"resourceType":"Patient","foo":1}`, "structure", "Patient.foo"},
	{"unknown nested element", `{"resourceType":"Patient","name":[{"family":"A","nickname":"B"}]}`, "structure", "Patient.name[0].nickname"},
	{"unknown choice type", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueUri":"http://a"}`, "structure", "Observation.valueUri"},
	{"string given as number", `{"resourceType":"Patient","birthDate":19840317}`, "structure", "Patient.birthDate"},
	{"boolean given as string", `{"resourceType":"Patient","active":"true"}`, "structure", "Patient.active"},
	{"decimal given as string", obs(`"valueQuantity":{"value":"1.5"}`), "structure", "Observation.valueQuantity.value"},
	{"object given as string", `{"resourceType":"Patient","maritalStatus":"M"}`, "structure", "Patient.maritalStatus"},
	{"array where max is 1", `{"resourceType":"Patient","gender":["female"]}`, "structure", "Patient.gender"},
	{"single value where max is *", `{"resourceType":"Patient","name":{"family":"A"}}`, "structure", "Patient.name"},
	{"empty object", `{"resourceType":"Patient","maritalStatus":{}}`, "structure", "Patient.maritalStatus"},
	{"empty array", `{"resourceType":"Patient","name":[]}`, "structure", "Patient.name"},
	{"empty string", `{"resourceType":"Patient","birthDate":""}`, "structure", "Patient.birthDate"},
	{"null value", `{"resourceType":"Patient","active":null}`, "structure", "Patient.active"},
	{"null in array without _name", `{"resourceType":"Patient","name":[{"given":["A",null]}]}`, "structure", "Patient.name[0].given[1]"},
	{"null in array of objects", `{"resourceType":"Patient","name":[null]}`, "structure", "Patient.name[0]"},
	{"two variants of a choice", obs(`"valueQuantity":{"value":1},"valueString":"one"`), "structure", "Observation.valueString"},
	{"value and _value of two variants", obs(`"valueBoolean":true,"_valueString":{"id":"a"}`), "structure", "Observation.valueString"},
	{"_birthDate not an object", `{"resourceType":"Patient","birthDate":"1984","_birthDate":"x"}`, "structure", "Patient.birthDate"},
	{"_birthDate empty", `{"resourceType":"Patient","_birthDate":{}}`, "structure", "Patient.birthDate"},
	{"_birthDate unknown member", `{"resourceType":"Patient","_birthDate":{"value":"1984"}}`, "structure", "Patient.birthDate.value"},
	{"_given not an array", `{"resourceType":"Patient","name":[{"given":["A"],"_given":{"id":"g"}}]}`, "structure", "Patient.name[0].given"},
	{"_given misaligned", `{"resourceType":"Patient","name":[{"given":["A","B"],"_given":[{"id":"g"}]}]}`, "structure", "Patient.name[0].given"},
	{"_given and given both null", `{"resourceType":"Patient","name":[{"given":["A",null],"_given":[{"id":"g"},null]}]}`, "structure", "Patient.name[0].given[1]"},
	{"_name of a datatype", `{"resourceType":"Patient","_maritalStatus":{"id":"a"}}`, "structure", "Patient._maritalStatus"},
	{"_id of a resource", `{"resourceType":"Patient","_id":{"id":"a"}}`, "structure", "Patient._id"},
	{"contained not an object", `{"resourceType":"Patient","contained":["x"]}`, "structure", "Patient.contained[0]"},
	{"contained without resourceType", `{"resourceType":"Patient","contained":[{"id":"a"}]}`, "structure", "Patient.contained[0]"},
	{"unknown element in contained", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","foo":1}]}`, "structure", "Patient.contained[0].foo"},
	{"unknown element in bundle entry", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","foo":1}}]}`, "structure", "Bundle.entry[0].resource.foo"},

	// Readable content that breaks a rule (422).
	{"required element missing", `{"resourceType":"Observation","code":{"text":"x"}}`, "required", "Observation.status"},
	{"required element of backbone", `{"resourceType":"Patient","link":[{"type":"seealso"}]}`, "required", "Patient.link[0].other"},
	{"required element of datatype", `{"resourceType":"Patient","extension":[{"valueString":"x"}]}`, "required", "Patient.extension[0].url"},
	{"code outside required binding", `{"resourceType":"Patient","gender":"F"}`, "code-invalid", "Patient.gender"},
	{"code outside binding in backbone", `{"resourceType":"Patient","contact":[{"gender":"man"}]}`, "code-invalid", "Patient.contact[0].gender"},
	{"CodeableConcept outside required binding", `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"gone"}]}}`, "code-invalid", "AllergyIntolerance.clinicalStatus"},
	{"code with leading space", `{"resourceType":"Patient","gender":" female"}`, "value", "Patient.gender"},
	{"id with underscore", `{"resourceType":"Patient","id":"a_b"}`, "value", "Patient.id"},
	{"id too long", `{"resourceType":"Patient","id":"` + strings.Repeat("a", 65) + `"}`, "value", "Patient.id"},
	{"element id is a string", `{"resourceType":"Patient","name":[{"id":3}]}`, "structure", "Patient.name[0].id"},
	{"date not in calendar", `{"resourceType":"Patient","birthDate":"2023-02-29"}`, "value", "Patient.birthDate"},
	{"date with bad month", `{"resourceType":"Patient","birthDate":"1984-13"}`, "value", "Patient.birthDate"},
	{"date with two-digit year", `{"resourceType":"Patient","birthDate":"84-03-17"}`, "value", "Patient.birthDate"},
	{"date with time", `{"resourceType":"Patient","birthDate":"1984-03-17T10:00:00Z"}`, "value", "Patient.birthDate"},
	{"dateTime without time zone", obs(`"effectiveDateTime":"2024-05-02T08:05:00"`), "value", "Observation.effectiveDateTime"},
	{"dateTime without seconds", obs(`"effectiveDateTime":"2024-05-02T08:05Z"`), "value", "Observation.effectiveDateTime"},
	{"instant without time", obs(`"issued":"2024-05-02"`), "value", "Observation.issued"},
	{"instant with bad offset", obs(`"issued":"2024-05-02T08:05:00+15:00"`), "value", "Observation.issued"},
	{"time out of range", obs(`"valueTime":"24:00:00"`), "value", "Observation.valueTime"},
	{"integer with fraction", `{"resourceType":"Patient","multipleBirthInteger":2.5}`, "value", "Patient.multipleBirthInteger"},
	{"integer out of 32-bit range", `{"resourceType":"Patient","multipleBirthInteger":3000000000}`, "value", "Patient.multipleBirthInteger"},
	{"positiveInt zero", `{"resourceType":"Patient","telecom":[{"system":"phone","value":"1","rank":0}]}`, "value", "Patient.telecom[0].rank"},
	{"unsignedInt negative", `{"resourceType":"Appointment","status":"booked","priority":-1,"participant":[{"status":"accepted","type":[{"text":"x"}]}]}`, "value", "Appointment.priority"},
	{"uri with whitespace", `{"resourceType":"Patient","implicitRules":"http://a b"}`, "value", "Patient.implicitRules"},
	{"oid without urn prefix", `{"resourceType":"Patient","extension":[{"url":"http://e","valueOid":"1.2.3"}]}`, "value", "Patient.extension[0].valueOid"},
	{"uuid in upper case", `{"resourceType":"Patient","extension":[{"url":"http://e","valueUuid":"urn:uuid:C757873D-EC9A-4326-A141-556F43239520"}]}`, "value", "Patient.extension[0].valueUuid"},
	{"base64 of wrong length", `{"resourceType":"Patient","photo":[{"data":"abc"}]}`, "value", "Patient.photo[0].data"},
	{"string with control character", `{"resourceType":"Patient","name":[{"family":"A\u0001"}]}`, "value", "Patient.name[0].family"},
	{"narrative not a div", `{"resourceType":"Patient","text":{"status":"generated","div":"<p>hi</p>"}}`, "value", "Patient.text.div"},
	{"reference to a disallowed type", obs(`"subject":{"reference":"Practitioner/p1"}`), "value", "Observation.subject.reference"},
	{"absolute reference to a disallowed type", obs(`"subject":{"reference":"https://other.example.org/fhir/Practitioner/p1/_history/2"}`), "value", "Observation.subject.reference"},
	{"reference type disallowed", obs(`"subject":{"type":"Practitioner","identifier":{"value":"1"}}`), "value", "Observation.subject.type"},
	{"reference to an unknown type", obs(`"subject":{"reference":"Pateint/p1"}`), "value", "Observation.subject.reference"},
	{"relative reference without id", obs(`"subject":{"reference":"Patient"}`), "value", "Observation.subject.reference"},
	{"reference with a bad id", obs(`"subject":{"reference":"Patient/a b"}`), "value", "Observation.subject.reference"},
	{"local reference without contained", obs(`"specimen":{"reference":"#spec1"}`), "invariant", "Observation.specimen.reference"},
	{"local reference to a disallowed type", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"contained":[{"resourceType":"Patient","id":"p"}],"specimen":{"reference":"#p"}}`, "value", "Observation.specimen.reference"},
	{"# outside a contained resource", obs(`"focus":[{"reference":"#"}]`), "invariant", "Observation.focus[0].reference"},
	{"extension with value and extensions", `{"resourceType":"Patient","extension":[{"url":"http://e","valueString":"a","extension":[{"url":"b","valueString":"c"}]}]}`, "invariant", "Patient.extension[0]"},
	{"extension with neither", `{"resourceType":"Patient","extension":[{"url":"http://e"}]}`, "invariant", "Patient.extension[0]"},
	{"nested contained", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","contained":[{"resourceType":"Organization","id":"p"}]}]}`, "invariant", "Patient.contained[0].contained"},
	{"contained with versionId", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","meta":{"versionId":"1"}}]}`, "invariant", "Patient.contained[0].meta.versionId"},
	{"comparator in a SimpleQuantity", obs(`"referenceRange":[{"low":{"value":1,"comparator":">"}}]`), "invariant", "Observation.referenceRange[0].low.comparator"},
	{"error inside a contained resource", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","active":"yes"}]}`, "structure", "Patient.contained[0].active"},
	{"required inside recursive item", `{"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1","type":"group","item":[{"linkId":"1.1"}]}]}`, "required", "Questionnaire.item[0].item[0].type"},
}

// obs wraps members in an otherwise valid Observation.
func obs(members string) string {
	return `{"resourceType":"Observation","status":"final","code":{"text":"x"},` + members + `}`
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range rejectionCases {
		t.Run(tc.name, func(t *testing.T) {
			root, err := ParseJSON([]byte(tc.json))
			if err != nil {
				t.Fatalf("test input is not JSON: %v", err)
			}
			issues := Validate(&root)
			if len(issues) != 1 {
				t.Fatalf("want 1 issue, got %d:%s", len(issues), dump(issues))
			}
			is := issues[0]
			var expr string
			if len(is.Expression) > 0 {
				expr = is.Expression[0]
			}
			if is.Code != tc.code || expr != tc.expr || is.Severity != "error" || is.Diagnostics == "" {
				t.Errorf("got %s, want code %s at %q", dump(issues), tc.code, tc.expr)
			}
		})
	}
}

// Valid content that a careless validator would reject.
var acceptedCases = []struct{ name, json string }{
	{"null aligned with _given", `{"resourceType":"Patient","name":[{"given":[null,"B"],"_given":[{"extension":[{"url":"http://e","valueCode":"CL"}]},null]}]}`},
	{"_given without given", `{"resourceType":"Patient","name":[{"_given":[{"id":"g1"}]}]}`},
	{"required primitive given only by extension", `{"resourceType":"Observation","_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},"code":{"text":"x"}}`},
	{"conditional reference", obs(`"subject":{"reference":"Patient?identifier=urn:oid:1.2.3|42"}`)},
	{"urn:uuid reference", obs(`"subject":{"reference":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520"}`)},
	{"absolute reference to another server", obs(`"subject":{"reference":"https://other.example.org/fhir/Patient/p1"}`)},
	{"reference to Any", obs(`"focus":[{"reference":"Medication/m1"}]`)},
	{"versioned reference", obs(`"subject":{"reference":"Patient/p1/_history/3"}`)},
	{"contained resource pointing back", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"contained":[{"resourceType":"Specimen","id":"s","subject":{"reference":"#"}}],"specimen":{"reference":"#s"}}`},
	{"leap second and fraction", obs(`"issued":"2016-12-31T23:59:60.123456+14:00"`)},
	{"year-only dateTime", obs(`"effectiveDateTime":"2024"`)},
	{"decimal with exponent", obs(`"valueQuantity":{"value":1.0e-3}`)},
	{"leap day", `{"resourceType":"Patient","birthDate":"2000-02-29"}`},
	{"component reference range (contentReference)", obs(`"component":[{"code":{"text":"a"},"valueQuantity":{"value":1},"referenceRange":[{"text":"normal"}]}]`)},
	{"bundle with transaction entries", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Patient","active":true},"request":{"method":"POST","url":"Patient"}}]}`},
	{"parameters with a resource", `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Patient","gender":"other"}},{"name":"count","valueInteger":3}]}`},
	{"modifier extension", `{"resourceType":"Patient","modifierExtension":[{"url":"http://e","valueBoolean":true}]}`},
}

func TestValidateAccepts(t *testing.T) {
	for _, tc := range acceptedCases {
		t.Run(tc.name, func(t *testing.T) {
			root, err := ParseJSON([]byte(tc.json))
			if err != nil {
				t.Fatalf("test input is not JSON: %v", err)
			}
			if issues := Validate(&root); len(issues) != 0 {
				t.Errorf("want no issues, got%s", dump(issues))
			}
		})
	}
}

// TestValidateReportsAll: every problem is reported, not just the first.
func TestValidateReportsAll(t *testing.T) {
	root, _ := ParseJSON([]byte(`{"resourceType":"Observation","foo":1,"code":{"text":"x"},"issued":"yesterday","subject":{"reference":"Device/d"},"bar":2}`))
	issues := Validate(&root)
	got := map[string]string{}
	for _, is := range issues {
		got[is.Expression[0]] = is.Code
	}
	want := map[string]string{"Observation.foo": "structure", "Observation.bar": "structure", "Observation.issued": "value", "Observation.status": "required"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestValidateBounded: a hostile resource gets maxIssues issues and a note, not millions.
func TestValidateBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Patient"`)
	for i := range 500 {
		fmt.Fprintf(&b, `,"x%d":1`, i)
	}
	b.WriteString("}")
	root, _ := ParseJSON([]byte(b.String()))
	issues := Validate(&root)
	if len(issues) != maxIssues+1 || issues[maxIssues].Severity != "information" {
		t.Fatalf("got %d issues, last %+v", len(issues), issues[len(issues)-1])
	}
}

func TestValidationErrorStatus(t *testing.T) {
	for _, tc := range rejectionCases {
		want := http.StatusUnprocessableEntity
		if tc.code == "structure" {
			want = http.StatusBadRequest
		}
		_, err := ParseResource([]byte(tc.json))
		verr, ok := err.(*ValidationError)
		if !ok {
			t.Fatalf("%s: got %v, want a *ValidationError", tc.name, err)
		}
		if verr.Status() != want {
			t.Errorf("%s: status %d, want %d", tc.name, verr.Status(), want)
		}
	}
}

func dump(issues []Issue) string {
	var b strings.Builder
	for _, is := range issues {
		fmt.Fprintf(&b, "\n  %s %s %v: %s", is.Severity, is.Code, is.Expression, is.Diagnostics)
	}
	return b.String()
}
