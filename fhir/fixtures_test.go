package fhir

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fixtureDir holds the example resources shared with the HTTP tests.
const fixtureDir = "../testdata/resources"

func readFixtures(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtureDir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	return out
}

// TestFixturesValidateAndRoundTrip: every fixture is valid and comes back byte for byte through
// ParseResource and JSON() (compared with the compacted file).
func TestFixturesValidateAndRoundTrip(t *testing.T) {
	for name, data := range readFixtures(t) {
		t.Run(name, func(t *testing.T) {
			r, err := ParseResource(data)
			if err != nil {
				t.Fatalf("ParseResource: %v", err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, data); err != nil {
				t.Fatal(err)
			}
			if got := r.JSON(); !bytes.Equal(got, compact.Bytes()) {
				t.Errorf("JSON() differs from the input\n got: %s\nwant: %s", got, compact.Bytes())
			}
			// The fixtures are kept in the server's own indented form, which also tests it.
			pretty := append(AppendIndentJSON(nil, r.Root), '\n')
			if !bytes.Equal(pretty, data) {
				t.Errorf("the file is not in AppendIndentJSON form (two-space indent, final newline); want:\n%s", pretty)
			}
		})
	}
}
