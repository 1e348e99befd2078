package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestMethodNotAllowed: with tokens required, a method the path does not allow answers 405
// with Allow (as with --auth=none), with or without a token; the FHIR routes' middleware is
// given per route, not to the group, whose catch-all route would make it 404.
func TestMethodNotAllowed(t *testing.T) {
	en := newAuthEnv(t)
	tok := en.systemToken("system/*.cruds")
	for _, bearer := range []string{tok, ""} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, en.base+"/Patient/p1", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/fhir+json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "PUT") {
			t.Errorf("POST Patient/p1 (token %v): %d, Allow %q; want 405 with Allow", bearer != "", resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	// And a route that needs a token still asks for one.
	resp, err := http.Get(en.base + "/Patient/p1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET Patient/p1 without a token: %d, want 401", resp.StatusCode)
	}
}
