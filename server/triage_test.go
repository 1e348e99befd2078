package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTriageWiring(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Auth = AuthNone
	srv, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, err := http.Post(hs.URL+"/fhir/Communication", "application/fhir+json", strings.NewReader(
		`{"resourceType":"Communication","status":"completed","sender":{"reference":"Patient/p"},"payload":[{"contentString":"I cannot breathe"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || !strings.Contains(string(body), `"priority":"stat"`) || !strings.Contains(string(body), "triage-due") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}

	// The screening Questionnaire is there, once: a restart on the same data writes no new
	// version.
	q := func() string {
		resp, err := http.Get(hs.URL + "/fhir/Questionnaire/portico-red-flags")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"linkId":"emergency-now"`) || !strings.Contains(string(b), `"valueCode":"es"`) {
			t.Fatalf("screening Questionnaire: %d %s", resp.StatusCode, b)
		}
		return string(b)
	}
	if first := q(); !strings.Contains(first, `"versionId":"1"`) {
		t.Errorf("screening Questionnaire version: %s", first)
	}

	// The CapabilityStatement advertises the workload operation and the triage parameters.
	resp, err = http.Get(hs.URL + "/fhir/metadata")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"name":"triage-stats"`, `"name":"due"`, `"name":"priority"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metadata lacks %s", want)
		}
	}

	srv.Close()
	srv2, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	hs.Config.Handler = srv2.Handler()
	if again := q(); !strings.Contains(again, `"versionId":"1"`) {
		t.Errorf("a restart wrote the screening Questionnaire again: %s", again)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"version":1,"calendar":{"time_zone":"Nowhere/Land"}}`), 0o644)
	cfg.TriageConfig = bad
	cfg.TriageProtocols = bad
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "triage-protocols") || !strings.Contains(err.Error(), "Nowhere/Land") {
		t.Errorf("Validate: %v", err)
	}
	cfg.Triage = false
	if err := cfg.Validate(); err == nil {
		t.Error("--triage-protocols without triage accepted")
	}
}

// TestTriageFileErrorsSayWhere: a triage configuration or protocol file that is cut short, or
// has a value of the wrong type, stops the start with the file's name, the line and column,
// and the field (encoding/json said only "unexpected EOF").
func TestTriageFileErrorsSayWhere(t *testing.T) {
	dir := t.TempDir()
	truncated := filepath.Join(dir, "triage-config.json")
	if err := os.WriteFile(truncated, []byte("{\n  \"version\": 1,\n  \"routes\": [\n    {\"id\": \"front-desk\""), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongType := filepath.Join(dir, "protocols.json")
	if err := os.WriteFile(wrongType, []byte("{\n  \"protocols\": [\n    {\"id\": \"chest-pain\", \"priority\": 3}\n  ]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.TriageConfig, cfg.TriageProtocols = truncated, wrongType
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted both files")
	}
	for _, want := range []string{
		"triage-config: triage config " + truncated + ": invalid triage configuration: line 4, column 24: the file ends inside a value",
		"triage-protocols: " + wrongType + ": protocol: invalid: line 3, column 38: protocols.priority: a number where a string is expected",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate:\n%v\nlacks\n%s", err, want)
		}
	}
}
