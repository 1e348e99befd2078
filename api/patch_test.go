package api_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/internal/jsonpatch"
)

const patchType = "application/json-patch+json"

func TestPatch(t *testing.T) {
	s := newServer(t)
	id := s.create(`{"resourceType":"Observation","status":"preliminary","code":{"text":"t"},"valueQuantity":{"value":37.50,"unit":"Cel"},"note":[{"text":"a"}]}`)
	deleted := s.create(`{"resourceType":"Observation","status":"final","code":{"text":"t"}}`)
	wantStatus(t, s.do("DELETE", "/Observation/"+deleted, ""), 204)

	tests := []struct {
		name, path, patch string
		hdr               []string
		status            int
		code              string
		want              string // the resource after a 2xx, without server meta
	}{
		{"replace and add keep order and decimals", "/Observation/" + id,
			`[{"op":"test","path":"/valueQuantity/value","value":37.5},{"op":"replace","path":"/status","value":"final"},{"op":"add","path":"/note/-","value":{"text":"b~/"}}]`,
			nil, 200, "",
			`{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":37.50,"unit":"Cel"},"note":[{"text":"a"},{"text":"b~/"}]}`},
		{"escaped pointer", "/Observation/" + id,
			`[{"op":"add","path":"/code/text","value":"x"},{"op":"copy","from":"/note/1/text","path":"/note/0/text"}]`,
			[]string{"If-Match", `W/"2"`}, 200, "",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":37.50,"unit":"Cel"},"note":[{"text":"b~/"},{"text":"b~/"}]}`},
		{"move and remove", "/Observation/" + id,
			`[{"op":"move","from":"/note/1","path":"/note/0"},{"op":"remove","path":"/note/1"}]`,
			nil, 200, "",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":37.50,"unit":"Cel"},"note":[{"text":"b~/"}]}`},
		{"test fails", "/Observation/" + id, `[{"op":"test","path":"/status","value":"preliminary"}]`, nil, 422, "conflict", ""},
		{"path missing", "/Observation/" + id, `[{"op":"remove","path":"/subject"}]`, nil, 422, "processing", ""},
		{"malformed document", "/Observation/" + id, `{"op":"remove","path":"/note"}`, nil, 400, "structure", ""},
		{"unknown op", "/Observation/" + id, `[{"op":"merge","path":"/note"}]`, nil, 400, "structure", ""},
		{"bad pointer escape", "/Observation/" + id, `[{"op":"remove","path":"/note~2"}]`, nil, 400, "structure", ""},
		{"not JSON", "/Observation/" + id, `[{"op":`, nil, 400, "structure", ""},
		{"changes the id", "/Observation/" + id, `[{"op":"replace","path":"/id","value":"other"}]`, nil, 422, "processing", ""},
		{"removes the id", "/Observation/" + id, `[{"op":"remove","path":"/id"}]`, nil, 422, "processing", ""},
		{"changes the resourceType", "/Observation/" + id, `[{"op":"replace","path":"/resourceType","value":"Patient"}]`, nil, 422, "processing", ""},
		{"replaces the whole resource by an array", "/Observation/" + id, `[{"op":"replace","path":"","value":[]}]`, nil, 422, "processing", ""},
		{"If-Match stale", "/Observation/" + id, `[{"op":"replace","path":"/status","value":"amended"}]`, []string{"If-Match", `W/"1"`}, 412, "conflict", ""},
		{"If-Match malformed", "/Observation/" + id, `[]`, []string{"If-Match", `x`}, 400, "invalid", ""},
		{"unknown id", "/Observation/nope", `[]`, nil, 404, "not-found", ""},
		{"deleted", "/Observation/" + deleted, `[]`, nil, 410, "deleted", ""},
		{"a JSON Patch sent as FHIR JSON", "/Observation/" + id, `[]`, []string{"Content-Type", "application/fhir+json"}, 400, "structure", ""},
		{"a merge object sent as FHIR JSON", "/Observation/" + id, `{"status":"final"}`, []string{"Content-Type", "application/fhir+json"}, 400, "structure", ""},
		{"a merge object sent as JSON (fhirpy)", "/Observation/" + id, `{"status":"final"}`, []string{"Content-Type", "application/json"}, 415, "not-supported", ""},
		{"merge patch content type", "/Observation/" + id, `{}`, []string{"Content-Type", "application/merge-patch+json"}, 415, "not-supported", ""},
		{"no content type", "/Observation/" + id, `[]`, []string{"Content-Type", ""}, 415, "not-supported", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.versions()
			hdr := append([]string{"Content-Type", patchType}, tt.hdr...)
			r := s.do("PATCH", tt.path, tt.patch, hdr...)
			if tt.status >= 400 {
				wantOutcome(t, r, tt.status, tt.code)
				if s.versions() != before {
					t.Errorf("a failed patch wrote a version")
				}
				return
			}
			wantStatus(t, r, tt.status)
			if got := withoutServerMeta(t, r.Body); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			read := s.do("GET", tt.path, "")
			if string(read.Body) != string(r.Body) {
				t.Errorf("read after patch differs:\n%s\n%s", read.Body, r.Body)
			}
		})
	}
}

// TestPatchInvalidResult needs the validator: a patch that makes the resource invalid is 422.
func TestPatchInvalidResult(t *testing.T) {
	if _, err := fhir.ParseResource([]byte(`{"resourceType":"Observation","status":7,"code":{"text":"t"}}`)); err == nil {
		t.Skip("the fhir validator does not check element types yet")
	}
	s := newServer(t)
	id := s.create(`{"resourceType":"Observation","status":"final","code":{"text":"t"}}`)
	r := s.do("PATCH", "/Observation/"+id, `[{"op":"replace","path":"/status","value":7}]`, "Content-Type", patchType)
	wantOutcome(t, r, http.StatusUnprocessableEntity, "")
	if s.versions() != 1 {
		t.Errorf("an invalid patch wrote a version")
	}
}

// TestPatchCopyBomb: a patch whose copies double the resource (16 of them in a request of a
// kilobyte would make it 64,000 times larger) fails with 422 too-long before the result
// outgrows the body limit, and writes nothing; a patch of more than MaxOperations is 400.
func TestPatchCopyBomb(t *testing.T) {
	s := newServer(t)
	id := s.create(`{"resourceType":"Observation","status":"final","code":{"text":"t"},
		"extension":[{"url":"http://example.org/x","valueString":"` + strings.Repeat("x", 200) + `"}]}`)
	ops := []string{`{"op":"add","path":"/extension/0/extension","value":[]}`}
	for range 40 {
		ops = append(ops, `{"op":"copy","from":"/extension/0","path":"/extension/0/extension/-"}`)
	}
	r := s.do("PATCH", "/Observation/"+id, "["+strings.Join(ops, ",")+"]", "Content-Type", patchType)
	wantOutcome(t, r, http.StatusUnprocessableEntity, "too-long")
	if s.versions() != 1 {
		t.Errorf("a patch too large wrote a version")
	}
	many := strings.Repeat(`{"op":"test","path":"/status","value":"final"},`, jsonpatch.MaxOperations+1)
	r = s.do("PATCH", "/Observation/"+id, "["+strings.TrimSuffix(many, ",")+"]", "Content-Type", patchType)
	wantOutcome(t, r, http.StatusBadRequest, "")

	// Operations that each copy the whole of a large member and take it away again: the
	// result stays small, the work does not; bounded by work, not only by the number of
	// operations (a blind attack's 39 KB patch took 2-3.5 s on a 4 MB resource).
	big := s.create(`{"resourceType":"Observation","status":"final","code":{"text":"t"},"note":[{"text":"` +
		strings.Repeat("y", 2<<20) + `"}]}`)
	pair := `{"op":"copy","from":"/note/0","path":"/note/-"},{"op":"remove","path":"/note/1"},`
	r = s.do("PATCH", "/Observation/"+big, "["+strings.TrimSuffix(strings.Repeat(pair, 400), ",")+"]", "Content-Type", patchType)
	wantOutcome(t, r, http.StatusUnprocessableEntity, "too-costly")
	// One such pair is fine.
	r = s.do("PATCH", "/Observation/"+big, "["+strings.TrimSuffix(pair, ",")+"]", "Content-Type", patchType)
	if r.StatusCode != http.StatusOK {
		t.Errorf("one copy and remove of a large member: %d %s", r.StatusCode, r.Body)
	}
}

// fhirPathOp is one operation parameter of a FHIRPath Patch: type, path, further parts.
func fhirPathOp(typ, path string, parts ...string) string {
	all := append([]string{`{"name":"type","valueCode":"` + typ + `"}`, `{"name":"path","valueString":"` + path + `"}`}, parts...)
	return `{"name":"operation","part":[` + strings.Join(all, ",") + `]}`
}

func fhirPathPatch(ops ...string) string {
	if len(ops) == 0 {
		return `{"resourceType":"Parameters"}`
	}
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ops, ",") + `]}`
}

// TestFHIRPathPatch: PATCH with a Parameters resource as application/fhir+json goes through
// the same write path as JSON Patch: versions, If-Match, the validation of the result, the
// id and resourceType checks; what is malformed or beyond the supported FHIRPath is 400, what
// cannot apply 422, and nothing is written by a failed patch.
func TestFHIRPathPatch(t *testing.T) {
	s := newServer(t)
	id := s.create(`{"resourceType":"Patient","identifier":[{"system":"urn:a","value":"1"},{"system":"urn:a","value":"2"}],"birthDate":"1920-01-01"}`)
	deleted := s.create(`{"resourceType":"Patient"}`)
	wantStatus(t, s.do("DELETE", "/Patient/"+deleted, ""), 204)
	path := "/Patient/" + id

	tests := []struct {
		name, path, patch string
		hdr               []string
		status            int
		code              string
		want              string // the resource after a 2xx, without server meta
	}{
		{"replace a primitive (the spec's test case)", path,
			fhirPathPatch(fhirPathOp("replace", "Patient.birthDate", `{"name":"value","valueDate":"1930-01-01"}`)), nil, 200, "",
			`{"resourceType":"Patient","identifier":[{"system":"urn:a","value":"1"},{"system":"urn:a","value":"2"}],"birthDate":"1930-01-01"}`},
		{"add an anonymous type, move in a list, under If-Match", path,
			fhirPathPatch(fhirPathOp("add", "Patient", `{"name":"name","valueString":"contact"}`,
				`{"name":"value","part":[{"name":"name","valueHumanName":{"text":"a name"}},{"name":"telecom","valueContactPoint":{"system":"phone","value":"555"}}]}`),
				fhirPathOp("move", "Patient.identifier", `{"name":"source","valueInteger":1}`, `{"name":"destination","valueInteger":0}`)),
			[]string{"If-Match", `W/"2"`, "Content-Type", "application/fhir+json; fhirVersion=4.0"}, 200, "",
			`{"resourceType":"Patient","identifier":[{"system":"urn:a","value":"2"},{"system":"urn:a","value":"1"}],"birthDate":"1930-01-01","contact":[{"name":{"text":"a name"},"telecom":[{"system":"phone","value":"555"}]}]}`},
		{"where, insert and delete", path,
			fhirPathPatch(fhirPathOp("delete", "Patient.identifier.where(value = '2')"),
				fhirPathOp("insert", "Patient.identifier", `{"name":"index","valueInteger":0}`, `{"name":"value","valueIdentifier":{"system":"urn:b","value":"9"}}`),
				fhirPathOp("delete", "Patient.contact[0].telecom")), nil, 200, "",
			`{"resourceType":"Patient","identifier":[{"system":"urn:b","value":"9"},{"system":"urn:a","value":"1"}],"birthDate":"1930-01-01","contact":[{"name":{"text":"a name"}}]}`},
		{"no operation writes the same resource again", path, fhirPathPatch(), nil, 200, "",
			`{"resourceType":"Patient","identifier":[{"system":"urn:b","value":"9"},{"system":"urn:a","value":"1"}],"birthDate":"1930-01-01","contact":[{"name":{"text":"a name"}}]}`},
		{"beyond the supported FHIRPath", path, fhirPathPatch(fhirPathOp("delete", "Patient.generalPractitioner.resolve().name")), nil, 400, "not-supported", ""},
		{"a part missing", path, fhirPathPatch(fhirPathOp("replace", "Patient.birthDate")), nil, 400, "structure", ""},
		{"not a valid Parameters", path, fhirPathPatch(fhirPathOp("replace", "Patient.birthDate", `{"name":"value","valueDate":"not a date"}`)), nil, 400, "", ""},
		{"not a Parameters", path, `{"resourceType":"Patient","id":"` + id + `"}`, nil, 400, "structure", ""},
		{"not JSON", path, `{"resourceType":`, nil, 400, "structure", ""},
		{"no match", path, fhirPathPatch(fhirPathOp("replace", "Patient.gender", `{"name":"value","valueCode":"male"}`)), nil, 422, "processing", ""},
		{"a value of the wrong type", path, fhirPathPatch(fhirPathOp("replace", "Patient.birthDate", `{"name":"value","valueHumanName":{"text":"x"}}`)), nil, 422, "processing", ""},
		{"an invalid result", path, fhirPathPatch(fhirPathOp("replace", "Patient.birthDate", `{"name":"value","valueString":"yesterday"}`)), nil, 422, "", ""},
		{"changes the id", path, fhirPathPatch(fhirPathOp("replace", "Patient.id", `{"name":"value","valueId":"other"}`)), nil, 422, "processing", ""},
		{"removes the id", path, fhirPathPatch(fhirPathOp("delete", "Patient.id")), nil, 422, "processing", ""},
		{"If-Match stale", path, fhirPathPatch(), []string{"If-Match", `W/"1"`}, 412, "conflict", ""},
		{"unknown id", "/Patient/nope", fhirPathPatch(), nil, 404, "not-found", ""},
		{"deleted", "/Patient/" + deleted, fhirPathPatch(), nil, 410, "deleted", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.versions()
			hdr := append([]string{"Content-Type", "application/fhir+json"}, tt.hdr...)
			r := s.do("PATCH", tt.path, tt.patch, hdr...)
			if tt.status >= 400 {
				wantOutcome(t, r, tt.status, tt.code)
				if s.versions() != before {
					t.Errorf("a failed patch wrote a version")
				}
				return
			}
			wantStatus(t, r, tt.status)
			if got := withoutServerMeta(t, r.Body); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if s.versions() != before+1 || r.Header.Get("ETag") != `W/"`+jsonString(t, r.Body, "meta", "versionId")+`"` {
				t.Errorf("versions %d -> %d, ETag %q", before, s.versions(), r.Header.Get("ETag"))
			}
			if read := s.do("GET", tt.path, ""); string(read.Body) != string(r.Body) {
				t.Errorf("read after patch differs:\n%s\n%s", read.Body, r.Body)
			}
		})
	}

	// Both formats in one transaction, each entry through the same pipeline.
	jp := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/gender","value":"female"}]`))
	r := s.do("POST", "", bundleOf("transaction",
		ent("", "PATCH", "Patient/"+id, fhirPathPatch(fhirPathOp("replace", "Patient.birthDate", `{"name":"value","valueDate":"1931-02-03"}`))),
		ent("", "PATCH", "Patient/"+id, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+jp+`"}`)))
	wantOutcome(t, r, http.StatusBadRequest, "duplicate") // one target, twice: refused as for any write
	other := s.create(`{"resourceType":"Patient","birthDate":"2000-01-01"}`)
	r = s.do("POST", "", bundleOf("transaction",
		ent("", "PATCH", "Patient/"+id, fhirPathPatch(fhirPathOp("replace", "Patient.birthDate", `{"name":"value","valueDate":"1931-02-03"}`))),
		ent("", "PATCH", "Patient/"+other, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+jp+`"}`)))
	for _, e := range entryResponses(t, r, "transaction-response") {
		if status(e) != "200 OK" {
			t.Errorf("transaction entry: %s", e.Marshal())
		}
	}
	if got := jsonString(t, s.do("GET", path, "").Body, "birthDate"); got != "1931-02-03" {
		t.Errorf("birthDate after the transaction: %s", got)
	}
	r = s.do("POST", "", bundleOf("batch", ent("", "PATCH", "Patient/"+id, fhirPathPatch(fhirPathOp("delete", "Patient.name.ofType(HumanName)")))))
	if es := entryResponses(t, r, "batch-response"); status(es[0]) != "400 Bad Request" {
		t.Errorf("batch entry beyond the supported FHIRPath: %s", es[0].Marshal())
	}
}

// TestPatchUnsupportedFormat: a body in no patch format (fhirpy's patch() sends a merge object
// as application/json) is 415, and the OperationOutcome names the formats that work.
func TestPatchUnsupportedFormat(t *testing.T) {
	s := newServer(t)
	id := s.create(`{"resourceType":"Patient","active":true}`)
	for _, ct := range []string{"application/json", "application/merge-patch+json", "text/plain", ""} {
		r := s.do("PATCH", "/Patient/"+id, `{"active":false}`, "Content-Type", ct)
		wantOutcome(t, r, http.StatusUnsupportedMediaType, "not-supported")
		diag := string(r.Body)
		for _, want := range []string{"application/json-patch+json", "FHIRPath Patch", "application/fhir+json", "Parameters"} {
			if !strings.Contains(diag, want) {
				t.Errorf("%q: the outcome does not name %s: %s", ct, want, diag)
			}
		}
		if merge := strings.Contains(diag, "Merge Patch"); merge != (ct == "application/json" || ct == "application/merge-patch+json") {
			t.Errorf("%q: says Merge Patch: %v: %s", ct, merge, diag)
		}
	}
	if s.versions() != 1 {
		t.Errorf("a refused patch wrote a version")
	}
}

// TestFHIRPathPatchTooLarge: a patch whose result would outgrow the body limit is 422
// too-long, like a JSON Patch copy bomb.
func TestFHIRPathPatchTooLarge(t *testing.T) {
	s := newServer(t, func(o *options) { o.maxBody = 2048 })
	id := s.create(`{"resourceType":"Patient","identifier":[{"system":"urn:a","value":"` + strings.Repeat("x", 1200) + `"}]}`)
	p := fhirPathPatch(fhirPathOp("add", "Patient", `{"name":"name","valueString":"identifier"}`,
		`{"name":"value","valueIdentifier":{"system":"urn:a","value":"`+strings.Repeat("y", 1200)+`"}}`))
	r := s.do("PATCH", "/Patient/"+id, p, "Content-Type", "application/fhir+json")
	wantOutcome(t, r, http.StatusUnprocessableEntity, "too-long")
	if s.versions() != 1 {
		t.Errorf("a patch too large wrote a version")
	}
}

// TestFHIRPathPatchCost: each FHIRPath Patch operation evaluates its path over the whole
// resource, so the operations together may walk at most twice the body limit; past that
// the patch is 422 too-costly, before the work (a thousand deletes of nothing on one's own 7 MB
// Observation once ran for six minutes of both cores).
func TestFHIRPathPatchCost(t *testing.T) {
	s := newServer(t, func(o *options) { o.maxBody = 64 << 10 })
	var codings []string
	for i := range 1000 {
		codings = append(codings, fmt.Sprintf(`{"system":"urn:s","code":"c%d"}`, i))
	}
	id := s.create(`{"resourceType":"Observation","status":"final","code":{"coding":[` + strings.Join(codings, ",") + `]}}`)
	var ops []string
	for i := range 10 {
		ops = append(ops, fhirPathOp("delete", fmt.Sprintf("Observation.code.coding.where(code='zz%d')", i)))
	}
	r := s.do("PATCH", "/Observation/"+id, fhirPathPatch(ops...), "Content-Type", "application/fhir+json")
	wantOutcome(t, r, http.StatusUnprocessableEntity, "too-costly")
	if s.versions() != 1 {
		t.Errorf("a patch too costly wrote a version")
	}
	r = s.do("PATCH", "/Observation/"+id, fhirPathPatch(ops[:2]...), "Content-Type", "application/fhir+json")
	if r.StatusCode != http.StatusOK {
		t.Errorf("two deletes of nothing on a 40 KB resource: %d %s", r.StatusCode, r.Body)
	}
}
