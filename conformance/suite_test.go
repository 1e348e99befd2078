package conformance_test

import (
	"strings"
	"testing"

	"github.com/portico-health/portico/conformance"
	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/server/servertest"
)

// TestPortico runs the whole black-box suite against a real Portico on the embedded store,
// over HTTP, and fails on every failed or skipped check.
func TestPortico(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and sends a 20 MB request")
	}
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	// The black-box suite checks FHIR behaviour (it sends no tokens, like any FHIR client
	// suite); authorization is tested on its own in server/authz_test.go.
	cfg.Auth = server.AuthNone
	ts, base := servertest.Start(t, cfg)

	rep := conformance.Run(t.Context(), conformance.Options{BaseURL: base, Client: ts.Client()})
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	for _, r := range rep.Results {
		switch r.Status {
		case conformance.Fail:
			t.Errorf("%s/%s failed: %s", r.Section, r.Name, r.Detail)
		case conformance.Skip:
			// Every check applies to Portico; a skip means its CapabilityStatement stopped
			// claiming something, or its body limit grew past the suite's huge request.
			t.Errorf("%s/%s skipped: %s", r.Section, r.Name, r.Detail)
		}
	}
	if !rep.Passed() {
		t.Error("the suite did not pass")
	}
}
