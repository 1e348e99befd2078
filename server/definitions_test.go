package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-health/portico/definitions"
	"github.com/portico-health/portico/fhir"
)

// searchIDs decodes a search answer: the total and the Type/id of its match entries.
func searchIDs(t *testing.T, body []byte) (int, []string) {
	t.Helper()
	var b struct {
		ResourceType string
		Total        int
		Entry        []struct {
			Resource struct{ ResourceType, ID string }
			Search   struct{ Mode string }
		}
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" {
		t.Fatalf("not a Bundle: %s", body)
	}
	var ids []string
	for _, e := range b.Entry {
		if e.Search.Mode == "match" {
			ids = append(ids, e.Resource.ResourceType+"/"+e.Resource.ID)
		}
	}
	return b.Total, ids
}

// TestDefinitionsServed: Portico serves its own definitions through the FHIR API: each is read
// by its fixed id and found by its url with a patient's token (they are directory types), as
// the package holds it; every definition the CapabilityStatement gives resolves (Portico's to a
// served resource, the others to R4's published SearchParameters); a patient cannot change
// them.
func TestDefinitionsServed(t *testing.T) {
	en := newAuthEnv(t)
	sys := en.systemToken("system/*.cruds")
	en.must(sys, "PUT", "/Patient/p1", `{"resourceType":"Patient","id":"p1"}`, http.StatusCreated)
	pat := en.patientToken("p1", "launch/patient patient/*.rs")

	for _, d := range definitions.All() {
		body := en.must(pat, "GET", "/"+d.Type+"/"+d.ID, "", http.StatusOK)
		if !sameContent(body, d.JSON) {
			t.Errorf("%s/%s is not the package's %s: %s", d.Type, d.ID, d.File, body)
		}
		total, ids := searchIDs(t, en.must(pat, "GET", "/"+d.Type+"?url="+url.QueryEscape(d.URL), "", http.StatusOK))
		if total != 1 || len(ids) != 1 || ids[0] != d.Type+"/"+d.ID {
			t.Errorf("%s?url=%s: %d %v", d.Type, d.URL, total, ids)
		}
	}
	// The operation the issue found missing, by the id its CapabilityStatement entry implies.
	en.must(pat, "GET", "/OperationDefinition/Communication-triage-stats", "", http.StatusOK)
	_, ids := searchIDs(t, en.must(pat, "GET", "/StructureDefinition?type=Extension&_count=100&_elements=url", "", http.StatusOK))
	if n := len(definitions.OfType("StructureDefinition")); len(ids) != n {
		t.Errorf("StructureDefinition?type=Extension: %d, the package has %d", len(ids), n)
	}

	// Every definition the CapabilityStatement names resolves.
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string
				SearchParam []struct{ Name, Definition string }
				Operation   []struct{ Name, Definition string }
			}
		}
	}
	if err := json.Unmarshal(en.must("", "GET", "/metadata", "", http.StatusOK), &cs); err != nil || len(cs.Rest) != 1 {
		t.Fatalf("metadata: %v", err)
	}
	portico, r4 := 0, 0
	for _, r := range cs.Rest[0].Resource {
		var defs []string
		for _, sp := range r.SearchParam {
			defs = append(defs, sp.Definition)
		}
		for _, op := range r.Operation {
			defs = append(defs, op.Definition)
		}
		for _, def := range defs {
			switch {
			case strings.HasPrefix(def, definitions.Base+"/"):
				portico++
				typ := strings.Split(strings.TrimPrefix(def, definitions.Base+"/"), "/")[0]
				if total, _ := searchIDs(t, en.must(pat, "GET", "/"+typ+"?url="+url.QueryEscape(def), "", http.StatusOK)); total != 1 {
					t.Errorf("%s (in %s): %d served", def, r.Type, total)
				}
			case strings.HasPrefix(def, "http://hl7.org/fhir/SearchParameter/") && fhir.LookupSearchParamURL(def) != nil:
				r4++ // in hl7.fhir.r4.core, the package's dependency
			default:
				t.Errorf("%s names %s, neither Portico's nor R4's", r.Type, def)
			}
		}
	}
	if portico != 3 || r4 < 1000 {
		t.Errorf("the CapabilityStatement names %d of Portico's definitions (due, priority, $triage-stats) and %d of R4's", portico, r4)
	}

	// Definitions are shared data: a patient reads them, never writes them.
	d := definitions.OfType("StructureDefinition")[0]
	en.must(pat, "PUT", "/StructureDefinition/"+d.ID, string(d.JSON), http.StatusForbidden)
	en.must(pat, "DELETE", "/StructureDefinition/"+d.ID, "", http.StatusForbidden)
}

// TestDefinitionsSeededOnce: the definitions are written at the first start; a restart writes
// nothing; one changed or deleted through the API is restored at the next start (a new
// version, the history kept).
func TestDefinitionsSeededOnce(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Auth = AuthNone
	cfg.Triage = false // definitions are served without triage too
	hs := httptest.NewServer(nil)
	defer hs.Close()
	var srv *Server
	start := func() { // a start, or a restart on the same data
		if srv != nil {
			srv.Close()
		}
		var err error
		if srv, err = New(context.Background(), cfg, log); err != nil {
			t.Fatal(err)
		}
		hs.Config.Handler = srv.Handler()
	}
	defer func() { srv.Close() }()
	do := func(method, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+"/fhir"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
		}
		return b
	}
	version := func(path string) string {
		t.Helper()
		var r struct{ Meta struct{ VersionID string } }
		json.Unmarshal(do("GET", path, "", http.StatusOK), &r)
		return r.Meta.VersionID
	}
	all := definitions.All()
	start()
	for _, d := range all {
		if v := version("/" + d.Type + "/" + d.ID); v != "1" {
			t.Errorf("%s/%s: version %s after the first start", d.Type, d.ID, v)
		}
	}

	changed, deleted := definitions.OfType("CodeSystem")[0], definitions.OfType("SearchParameter")[0]
	var m map[string]any
	json.Unmarshal(changed.JSON, &m)
	m["description"] = "changed by hand"
	body, _ := json.Marshal(m)
	do("PUT", "/CodeSystem/"+changed.ID, string(body), http.StatusOK)
	do("DELETE", "/SearchParameter/"+deleted.ID, "", http.StatusNoContent)

	start()
	for _, d := range all {
		path := "/" + d.Type + "/" + d.ID
		want := "1"
		if d.URL == changed.URL || d.URL == deleted.URL {
			want = "3"
		}
		if v := version(path); v != want {
			t.Errorf("%s: version %s after a restart, want %s", path, v, want)
		}
		if !sameContent(do("GET", path, "", http.StatusOK), d.JSON) {
			t.Errorf("%s is not the package's after a restart", path)
		}
	}
	start()
	if v := version("/CodeSystem/" + changed.ID); v != "3" {
		t.Errorf("a second restart wrote CodeSystem/%s again: version %s", changed.ID, v)
	}
}
