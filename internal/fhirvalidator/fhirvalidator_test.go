package fhirvalidator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate checks that the validator judges as the tests rely on: an invalid code of a
// required binding and an unknown element are errors; a code system it does not hold (LOINC,
// offline), a profile it cannot fetch, a language outside the common ones where the binding is
// only preferred and an extension it does not know are not; a valid resource has no error;
// results come back in order.
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
		[]byte(`{"resourceType":"Communication","status":"completed",
			"extension":[{"url":"https://example.test/fhir/StructureDefinition/lang","valueString":"en"}]}`),
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
	for _, i := range []int{1, 3, 4, 5} {
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
	unknown := false
	for _, is := range results[5].Issues {
		unknown = unknown || strings.HasPrefix(is.MessageID, "Extension_EXT_Unknown")
	}
	if !unknown {
		t.Errorf("an extension no package defines is not reported unknown: %v", results[5].Issues)
	}
}

// TestValidatePackage checks that a package folder's definitions are used: an extension it
// defines (differential only, as packages usually ship them) is checked against its definition
// (without the package it is only unknown: TestValidate), and the definition itself is valid.
func TestValidatePackage(t *testing.T) {
	jar := filepath.Join("..", "..", Jar)
	Need(t, jar)
	pkg := filepath.Join(t.TempDir(), "package")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"package.json": `{"name":"example.test","version":"0.1.0","fhirVersions":["4.0.1"]}`,
		"StructureDefinition-lang.json": `{"resourceType":"StructureDefinition","id":"lang",
			"url":"https://example.test/fhir/StructureDefinition/lang","name":"Lang","status":"active",
			"fhirVersion":"4.0.1","kind":"complex-type","abstract":false,"context":[{"type":"element","expression":"Communication"}],
			"type":"Extension","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Extension","derivation":"constraint",
			"differential":{"element":[
				{"id":"Extension","path":"Extension","max":"1"},
				{"id":"Extension.url","path":"Extension.url","fixedUri":"https://example.test/fhir/StructureDefinition/lang"},
				{"id":"Extension.value[x]","path":"Extension.value[x]","min":1,"type":[{"code":"code"}]}]}}`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(pkg, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	comm := func(value string) []byte {
		return []byte(`{"resourceType":"Communication","status":"completed",
			"extension":[{"url":"https://example.test/fhir/StructureDefinition/lang",` + value + `}]}`)
	}
	good, bad := comm(`"valueCode":"en"`), comm(`"valueString":"en"`)
	definition := []byte(files["StructureDefinition-lang.json"])

	results, err := Validate(jar, []string{filepath.Dir(pkg)}, [][]byte{good, bad, definition})
	if err != nil {
		t.Fatal(err)
	}
	if errs := results[0].Errors(); len(errs) > 0 {
		t.Errorf("valid use of the extension: %v", errs)
	}
	if len(results[1].Errors()) == 0 {
		t.Errorf("valueString where the definition says code: no error in %v", results[1].Issues)
	}
	// The definition itself, as a server serves it: valid (HAPI's failure to regenerate its
	// snapshot offline is a warning, see Validate.java).
	if errs := results[2].Errors(); len(errs) > 0 {
		t.Errorf("the extension's StructureDefinition: %v", errs)
	}
	for _, is := range append(results[0].Issues, results[1].Issues...) {
		if strings.HasPrefix(is.MessageID, "Extension_EXT_Unknown") {
			t.Errorf("the package's extension is unknown: %v", is)
		}
	}

}
