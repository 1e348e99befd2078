package demo_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/demo"
	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newDemo(t *testing.T, st store.Store, base string) *demo.Demo {
	t.Helper()
	d, err := demo.New(demo.Config{Store: st, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readClient(t *testing.T, st store.Store) (smart.Client, int64) {
	t.Helper()
	rec, err := st.Read(t.Context(), smart.TypeClient, demo.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	var c smart.Client
	if err := json.Unmarshal(rec.Body, &c); err != nil {
		t.Fatal(err)
	}
	return c, rec.Version
}

func TestNewPaths(t *testing.T) {
	st := openStore(t)
	for base, want := range map[string][2]string{
		"http://localhost:8080/fhir":           {"/demo", "http://localhost:8080/demo/"},
		"https://portal.example/portico/fhir":  {"/portico/demo", "https://portal.example/portico/demo/"},
		"https://portal.example:8443/api/fhir": {"/api/demo", "https://portal.example:8443/api/demo/"},
	} {
		d := newDemo(t, st, base)
		if d.Path() != want[0] || d.RedirectURI() != want[1] {
			t.Errorf("%s: path %q redirect %q, want %q", base, d.Path(), d.RedirectURI(), want)
		}
	}
	for _, bad := range []string{"", "localhost:8080/fhir", "http://localhost:8080/fhir/", "ftp://x/fhir"} {
		if _, err := demo.New(demo.Config{Store: st, BaseURL: bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	if _, err := demo.New(demo.Config{BaseURL: "http://localhost/fhir"}); err == nil {
		t.Error("New without a store accepted")
	}
}

func TestEnsureClient(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	d := newDemo(t, st, "http://localhost:8080/fhir")
	if err := d.EnsureClient(ctx); err != nil {
		t.Fatal(err)
	}
	c, v := readClient(t, st)
	if c.Type != smart.ClientPublic || len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != "http://localhost:8080/demo/" ||
		c.Scope != demo.Scope || c.SecretHash != "" || c.Disabled || v != 1 {
		t.Fatalf("registered %+v (version %d)", c, v)
	}
	// The registry the authorization server uses sees it.
	if got, err := smart.NewRegistry(st).Client(ctx, demo.ClientID); err != nil || got.RedirectURIs[0] != d.RedirectURI() {
		t.Fatalf("registry: %+v %v", got, err)
	}

	// Idempotent: a second start writes nothing.
	if err := d.EnsureClient(ctx); err != nil {
		t.Fatal(err)
	}
	if _, v := readClient(t, st); v != 1 {
		t.Fatalf("second EnsureClient wrote version %d", v)
	}

	// A new --base-url moves the redirect URI (the old one stops working), keeping Created and
	// an administrator's Disabled.
	if err := smart.NewRegistry(st).DisableClient(ctx, demo.ClientID); err != nil {
		t.Fatal(err)
	}
	created := c.Created
	d2 := newDemo(t, st, "https://portal.example/fhir")
	if err := d2.EnsureClient(ctx); err != nil {
		t.Fatal(err)
	}
	c, v = readClient(t, st)
	if len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != "https://portal.example/demo/" || !c.Disabled || !c.Created.Equal(created) || v != 3 {
		t.Fatalf("after a new base URL: %+v (version %d)", c, v)
	}

	// Whatever else sits under the reserved id (a secret, another type) is replaced by the
	// public client: the demo must never be a client with credentials.
	body, _ := json.Marshal(smart.Client{ID: demo.ClientID, Name: "x", Type: smart.ClientConfidential,
		RedirectURIs: []string{"https://evil.example/cb"}, SecretHash: "h", Scope: "user/*.cruds"})
	if err := st.Write(ctx, store.Write{Op: store.OpUpdate, Type: smart.TypeClient, ID: demo.ClientID, Version: v + 1,
		LastUpdated: time.Now().UTC(), Body: body}); err != nil {
		t.Fatal(err)
	}
	if err := d2.EnsureClient(ctx); err != nil {
		t.Fatal(err)
	}
	c, _ = readClient(t, st)
	if c.Type != smart.ClientPublic || c.SecretHash != "" || c.RedirectURIs[0] != "https://portal.example/demo/" || c.Scope != demo.Scope {
		t.Fatalf("a tampered registration was kept: %+v", c)
	}
}

func TestServe(t *testing.T) {
	st := openStore(t)
	d := newDemo(t, st, "http://127.0.0.1:9999/fhir")
	e := echo.New()
	d.Register(e)
	srv := httptest.NewServer(e)
	defer srv.Close()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, _ := get("/demo")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/demo/" {
		t.Errorf("/demo: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for path, want := range map[string]string{
		"/demo/":                          "FHIR.oauth2.ready",
		"/demo/launch.html":               "launch-form",
		"/demo/vendor/fhir-client.min.js": "oauth2",
		"/demo/vendor/fhirclient.LICENSE": "Apache License",
	} {
		resp, body := get(path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
			continue
		}
		if path == "/demo/" {
			// app.js calls ready; the page loads it.
			if !strings.Contains(body, `src="app.js"`) {
				t.Errorf("/demo/ does not load app.js")
			}
			_, js := get("/demo/app.js")
			body = js
		}
		if !strings.Contains(body, want) {
			t.Errorf("%s lacks %q", path, want)
		}
		h := resp.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers %v", path, h)
		}
	}

	resp, body := get("/demo/config.json")
	var cfg map[string]string
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &cfg) != nil ||
		cfg["clientId"] != demo.ClientID || cfg["fhirBaseUrl"] != "http://127.0.0.1:9999/fhir" || cfg["redirectUri"] != "http://127.0.0.1:9999/demo/" {
		t.Errorf("config.json: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/demo/vendor/", "/demo/nope.html", "/demo/../go.mod"} {
		if resp, _ := get(path); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestServerConfig: --demo needs Portico's own authorization server.
func TestServerConfig(t *testing.T) {
	cfg := server.Defaults()
	cfg.Demo = true
	if err := cfg.Validate(); err != nil {
		t.Fatalf("--demo with --auth=smart: %v", err)
	}
	cfg.Auth = server.AuthNone
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "demo") {
		t.Fatalf("--demo with --auth=none: %v", err)
	}
}
