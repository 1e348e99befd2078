package conformance_test

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/conformance"
	"github.com/portico-health/portico/fhir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenDescription is fixed in every field, so that the golden file is stable.
func goldenDescription() conformance.Description {
	return conformance.Description{
		BaseURL:         "https://portal.example.org/fhir",
		ResourceTypes:   []string{"Patient", "Observation", "Communication"},
		SoftwareVersion: "1.2.3",
		Date:            time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Security: &conformance.Security{
			AuthorizeURL: "https://portal.example.org/auth/authorize",
			TokenURL:     "https://portal.example.org/auth/token",
		},
	}
}

// serve runs the metadata Handler for d inside Echo, as the server mounts it.
func serve(t *testing.T, d conformance.Description, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	e := echo.New()
	e.GET("/fhir/metadata", conformance.Handler(d))
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// TestCapabilityStatementGolden pins the served document: any change to what Portico claims
// shows up in review as a diff of testdata/capabilitystatement.golden.json (go test -update).
func TestCapabilityStatementGolden(t *testing.T) {
	rec := serve(t, goldenDescription(), "/fhir/metadata?_pretty=true")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	golden := filepath.Join("testdata", "capabilitystatement.golden.json")
	if *update {
		if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(rec.Body.Bytes(), want) {
		t.Errorf("CapabilityStatement differs from %s (go test -update to accept):\n%s", golden, rec.Body)
	}
}

// TestCapabilityStatementValid: the document Portico serves, for every type it serves, is a
// valid R4 resource by the same validator that guards writes.
func TestCapabilityStatementValid(t *testing.T) {
	for name, d := range map[string]conformance.Description{
		"golden":    goldenDescription(),
		"all types": {BaseURL: "http://localhost:8080/fhir", ResourceTypes: fhir.ResourceTypes},
	} {
		t.Run(name, func(t *testing.T) {
			data := fhir.AppendJSON(nil, conformance.CapabilityStatement(d))
			res, err := fhir.ParseResource(data)
			if err != nil {
				t.Fatalf("not a valid resource: %v", err)
			}
			if res.Type() != "CapabilityStatement" {
				t.Errorf("resourceType %q", res.Type())
			}
		})
	}
}

func TestHandler(t *testing.T) {
	d := goldenDescription()
	compact := fhir.AppendJSON(nil, conformance.CapabilityStatement(d))
	tests := []struct {
		name   string
		target string
		header []string
		status int
	}{
		{"plain", "/fhir/metadata", nil, http.StatusOK},
		{"fhir json", "/fhir/metadata", []string{"Accept", "application/fhir+json"}, http.StatusOK},
		{"json", "/fhir/metadata", []string{"Accept", "application/json"}, http.StatusOK},
		{"browser", "/fhir/metadata", []string{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, http.StatusOK},
		{"format json", "/fhir/metadata?_format=json", []string{"Accept", "application/fhir+xml"}, http.StatusOK},
		{"xml only", "/fhir/metadata", []string{"Accept", "application/fhir+xml"}, http.StatusNotAcceptable},
		{"json refused by q=0", "/fhir/metadata", []string{"Accept", "application/fhir+json;q=0, application/xml"}, http.StatusNotAcceptable},
		{"format xml", "/fhir/metadata?_format=xml", nil, http.StatusNotAcceptable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, d, tt.target, tt.header...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != http.StatusOK {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if !bytes.Equal(rec.Body.Bytes(), compact) {
				t.Errorf("body is not the compact CapabilityStatement:\n%s", rec.Body)
			}
		})
	}
}

// TestHandlerDate: without a date, the statement carries the time the handler was built (the
// server's start), not the time of each request.
func TestHandlerDate(t *testing.T) {
	d := goldenDescription()
	d.Date = time.Time{}
	before := time.Now().Add(-time.Second)
	h := conformance.Handler(d)
	e := echo.New()
	e.GET("/metadata", h)
	date := func() string {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metadata", nil))
		res, err := fhir.ParseResource(rec.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return res.Root.Get("date").Text
	}
	first := date()
	got, err := time.Parse(time.RFC3339, first)
	if err != nil || got.Before(before.Truncate(time.Second)) || got.After(time.Now()) {
		t.Fatalf("date %q, want the time Handler was called", first)
	}
	time.Sleep(1100 * time.Millisecond)
	if again := date(); again != first {
		t.Errorf("date changed between requests: %q then %q", first, again)
	}
}

// TestOAuthURIs: the oauth-uris extension carries only the sub-extensions R4's definition of
// it allows (authorize and token required; register and manage optional). The official
// validator rejected the introspect and revoke Portico used to add there.
func TestOAuthURIs(t *testing.T) {
	cs := conformance.CapabilityStatement(goldenDescription())
	sec := cs.Get("rest").Arr[0].Get("security")
	if sec == nil {
		t.Fatal("no rest.security")
	}
	allowed := map[string]bool{"authorize": true, "token": true, "register": true, "manage": true}
	var got []string
	for _, ext := range sec.Get("extension").Arr {
		if ext.Get("url").Text != "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris" {
			continue
		}
		for _, sub := range ext.Get("extension").Arr {
			url := sub.Get("url").Text
			if !allowed[url] {
				t.Errorf("oauth-uris carries %q, which its definition does not allow", url)
			}
			got = append(got, url+"="+sub.Get("valueUri").Text)
		}
	}
	want := []string{"authorize=https://portal.example.org/auth/authorize", "token=https://portal.example.org/auth/token"}
	if !slices.Equal(got, want) {
		t.Errorf("oauth-uris %v, want %v", got, want)
	}
}
