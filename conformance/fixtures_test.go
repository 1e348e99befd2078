package conformance

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/portico-health/portico/fhir"
)

// TestFixturesValid: every fixture, filled in, is a valid R4 resource, so that a server
// refusing one is judged wrong, not the suite.
func TestFixturesValid(t *testing.T) {
	names, err := fs.Glob(fixtureFS, "testdata/fixtures/*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, name := range names {
		name = strings.TrimPrefix(name, "testdata/fixtures/")
		t.Run(name, func(t *testing.T) {
			data := fixture(name, "value", "pc-test-1", "patient", "pc-test-2")
			if strings.Contains(string(data), "{{") {
				t.Fatalf("unfilled placeholder in %s", data)
			}
			if _, err := fhir.ParseResource(data); err != nil {
				t.Errorf("not a valid resource: %v", err)
			}
			if _, err := fhir.ParseResource(withID(data, resourceType(t, data), "pc-test-3")); err != nil {
				t.Errorf("not valid with an id: %v", err)
			}
		})
	}
}

func resourceType(t *testing.T, data []byte) string {
	t.Helper()
	v, err := decodeJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	return str(v, "resourceType")
}
