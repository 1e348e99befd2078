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

// TestRequestIDBounded: a client's X-Request-Id is echoed when it is a short printable id, and
// replaced by a new one when it is long or not printable (it goes into every log line of the
// request: the blind review's request_id_log_amplification).
func TestRequestIDBounded(t *testing.T) {
	en := newAuthEnv(t)
	for id, kept := range map[string]bool{
		"abc-123":                   true,
		strings.Repeat("x", 128):    true,
		strings.Repeat("x", 129):    false,
		strings.Repeat("y", 60_000): false,
		"has space":                 false,
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, en.base+"/metadata", nil)
		req.Header.Set("X-Request-Id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if (got == id) != kept || got == "" || len(got) > 128 {
			t.Errorf("X-Request-Id of %d bytes: answered %d bytes, kept %v, want kept %v", len(id), len(got), got == id, kept)
		}
	}
}
