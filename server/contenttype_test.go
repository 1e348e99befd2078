package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFHIRContentTypes: every answer under /fhir that carries a FHIR resource says
// application/fhir+json; charset=utf-8 ($triage-stats omitted the charset), or
// application/json; charset=utf-8 to a client that prefers it; $triage-stats negotiates like
// the interactions (406 for XML, _pretty).
func TestFHIRContentTypes(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Auth = AuthNone
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	do := func(method, path, body string, hdr ...string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, hs.URL+"/fhir"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/fhir+json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	status, _, _ := do("PUT", "/Patient/p1", `{"resourceType":"Patient","id":"p1"}`)
	if status != http.StatusCreated {
		t.Fatalf("PUT: %d", status)
	}
	const fhirJSON, plainJSON = "application/fhir+json; charset=utf-8", "application/json; charset=utf-8"
	for _, c := range []struct {
		method, path, body string
		hdr                []string
		status             int
		ct                 string
	}{
		{"GET", "/metadata", "", nil, 200, fhirJSON},
		{"GET", "/Patient/p1", "", nil, 200, fhirJSON},
		{"GET", "/Patient/p1", "", []string{"Accept", "application/json"}, 200, plainJSON},
		{"GET", "/Patient?_id=p1", "", nil, 200, fhirJSON},
		{"GET", "/_history", "", nil, 200, fhirJSON},
		{"GET", "/Patient/nope", "", nil, 404, fhirJSON},
		{"POST", "", `{"resourceType":"Bundle","type":"batch"}`, nil, 200, fhirJSON},
		{"GET", "/Communication/$triage-stats", "", nil, 200, fhirJSON},
		{"GET", "/Communication/$triage-stats", "", []string{"Accept", "application/json"}, 200, plainJSON},
		{"GET", "/Communication/$triage-stats?_format=json", "", []string{"Accept", "text/html"}, 200, fhirJSON},
		{"GET", "/Communication/$triage-stats", "", []string{"Accept", "application/fhir+xml"}, 406, fhirJSON},
		{"GET", "/Communication/$triage-stats?period=nonsense", "", nil, 400, fhirJSON},
	} {
		status, h, body := do(c.method, c.path, c.body, c.hdr...)
		if status != c.status || h.Get("Content-Type") != c.ct {
			t.Errorf("%s %s %v: %d %q, want %d %q: %.200s", c.method, c.path, c.hdr, status, h.Get("Content-Type"), c.status, c.ct, body)
		}
	}
	if _, _, body := do("GET", "/Communication/$triage-stats?_pretty=true", ""); !strings.HasPrefix(body, "{\n") || !strings.Contains(body, `"resourceType": "Parameters"`) {
		t.Errorf("_pretty=true: %.200s", body)
	}
}
