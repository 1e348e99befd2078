package conformance_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-health/portico/conformance"
)

// These tests run the suite against servers known to be wrong, to show that its checks can fail
// and that it skips what a server does not claim.

func results(rep conformance.Report) map[string]conformance.Result {
	m := map[string]conformance.Result{}
	for _, r := range rep.Results {
		m[r.Section+"/"+r.Name] = r
	}
	return m
}

func TestRunUnreachable(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL + "/fhir"
	ts.Close()
	rep := conformance.Run(t.Context(), conformance.Options{BaseURL: base})
	if rep.Passed() {
		t.Fatal("Passed against a server that is not there")
	}
	if len(rep.Results) == 0 {
		t.Fatal("no checks ran")
	}
	for _, r := range rep.Results {
		if r.Status != conformance.Fail {
			t.Errorf("%s/%s: %s, want FAIL (%s)", r.Section, r.Name, r.Status, r.Detail)
		}
	}
}

// A server that serves an STU3 CapabilityStatement claiming read only, and nothing else.
func stu3Server(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/metadata", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType": "CapabilityStatement", "fhirVersion": "3.0.2", "format": ["json"],
			"rest": [{"mode": "server", "resource": [{"type": "Patient", "interaction": [{"code": "read"}]}]}]}`))
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL + "/fhir"
}

func TestRunWrongServer(t *testing.T) {
	rep := conformance.Run(t.Context(), conformance.Options{
		BaseURL:  stu3Server(t),
		Sections: []string{"capabilities", "crud"},
		Logf:     t.Logf,
	})
	var text strings.Builder
	_ = rep.WriteText(&text)
	t.Log(text.String())

	got := results(rep)
	want := map[string]conformance.Status{
		"capabilities/metadata":         conformance.Fail, // fhirVersion 3.0.2
		"capabilities/metadata-formats": conformance.Pass,
		"capabilities/metadata-rest":    conformance.Pass,
		"crud/create":                   conformance.Skip, // create is not claimed
		"crud/read":                     conformance.Skip, // claimed, but there is no create to make a Patient to read
		"crud/history-system":           conformance.Skip,
	}
	for name, status := range want {
		if r, ok := got[name]; !ok {
			t.Errorf("%s did not run", name)
		} else if r.Status != status {
			t.Errorf("%s: %s, want %s (%s)", name, r.Status, status, r.Detail)
		}
	}
	if strings.Contains(text.String(), "\nconditional\n") {
		t.Error("ran a section that was not asked for")
	}
	if !strings.Contains(got["capabilities/metadata"].Detail, "4.0.1") {
		t.Errorf("metadata failure does not say what was expected: %q", got["capabilities/metadata"].Detail)
	}
}
