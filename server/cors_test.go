package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	appOrigin   = "https://app.example"
	otherOrigin = "https://evil.example"
)

func TestParseCORSOrigins(t *testing.T) {
	for _, tc := range []struct {
		in      string
		any     bool
		exact   []string
		wantErr string // part of the error; "" for none
	}{
		{in: ""},
		{in: " , "},
		{in: "*", any: true},
		{in: "https://app.example", exact: []string{"https://app.example"}},
		{in: "https://app.example, http://localhost:3000,https://app.example", exact: []string{"https://app.example", "http://localhost:3000"}},
		{in: "http://127.0.0.1:8081,http://[::1]:8081", exact: []string{"http://127.0.0.1:8081", "http://[::1]:8081"}},
		{in: "https://app.example/", wantErr: `want "https://app.example"`},
		{in: "https://app.example/callback", wantErr: `want "https://app.example"`},
		{in: "https://app.example?x=1", wantErr: `want "https://app.example"`},
		{in: "https://user@app.example", wantErr: `want "https://app.example"`},
		{in: "https://App.Example", wantErr: `want "https://app.example"`},
		{in: "https://app.example:443", wantErr: `want "https://app.example"`},
		{in: "http://app.example:80", wantErr: `want "http://app.example"`},
		{in: "http://app.example:99999", wantErr: "want 1 to 65535"},
		{in: "app.example", wantErr: "scheme://host[:port]"},
		{in: "null", wantErr: "scheme://host[:port]"},
		{in: "ftp://app.example", wantErr: "want http or https"},
		{in: "https://*.example", wantErr: "wildcards are not supported"},
		{in: "https://bücher.example", wantErr: "xn--"},
		{in: "*, https://app.example", wantErr: `"*" (any origin) must be the only value`},
		// Forms a browser never sends (the blind review's cors_origin_validation): each is
		// refused with the form it would send.
		{in: "https://app.example:080", wantErr: `want "https://app.example:80"`},
		{in: "https://0x7f.1", wantErr: `want "https://127.0.0.1"`},
		{in: "http://2130706433:8080", wantErr: `want "http://127.0.0.1:8080"`},
		{in: "http://0177.0.0.1", wantErr: `want "http://127.0.0.1"`},
		{in: "https://[0:0:0:0:0:0:0:1]", wantErr: `want "https://[::1]"`},
		{in: "http://[::ffff:127.0.0.1]", wantErr: `want "http://[::ffff:7f00:1]"`},
		{in: "http://[2001:DB8::1]", wantErr: `want "http://[2001:db8::1]"`},
		{in: "http://[2001:db8:0:0:1:0:0:1]", wantErr: `want "http://[2001:db8::1:0:0:1]"`},
		{in: "http://256.1.1.1", wantErr: "not an IPv4 address"},
		{in: "http://[::ffff:7f00:1]", exact: []string{"http://[::ffff:7f00:1]"}},
		{in: "http://10.0.0.1:3000", exact: []string{"http://10.0.0.1:3000"}},
		{in: "https://app1.example", exact: []string{"https://app1.example"}},
	} {
		o, err := parseCORSOrigins(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "cors-origins: ") {
				t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case o.any != tc.any || strings.Join(o.exact, " ") != strings.Join(tc.exact, " "):
			t.Errorf("%q: %+v, want any %v exact %v", tc.in, o, tc.any, tc.exact)
		}
	}
	// A bad value stops the start with the flag's name in the message.
	cfg := Defaults()
	cfg.DataDir, cfg.CORSOrigins = t.TempDir(), "https://app.example/"
	if _, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "cors-origins:") {
		t.Errorf("New with a bad --cors-origins: %v", err)
	}
}

// accessControl is the Access-Control-* headers of h.
func accessControl(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = v
		}
	}
	return out
}

// listed says whether the comma-separated header name of h lists want (case-insensitive).
func listed(h http.Header, name, want string) bool {
	for _, v := range h.Values(name) {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), want) {
				return true
			}
		}
	}
	return false
}

// sendURL sends a request to an absolute URL with the headers given as name, value pairs.
func sendURL(t *testing.T, method, u, body string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// preflight sends the OPTIONS request a browser sends before a cross-origin request of method
// with the SMART JavaScript client's headers: no token, no body.
func (en *authEnv) preflight(path, origin, method string) (int, http.Header) {
	en.t.Helper()
	status, h, _ := sendURL(en.t, http.MethodOptions, en.base+path, "", "Origin", origin,
		"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization,content-type,if-match,prefer")
	return status, h
}

// wantPreflight checks a preflight answer that allows origin (allow: what
// Access-Control-Allow-Origin must say).
func wantPreflight(t *testing.T, what string, status int, h http.Header, allow string) {
	t.Helper()
	if status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != allow {
		t.Errorf("%s: %d, Access-Control-Allow-Origin %q, want 204 and %q (%v)", what, status, h.Get("Access-Control-Allow-Origin"), allow, h)
	}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if !listed(h, "Access-Control-Allow-Methods", m) {
			t.Errorf("%s: Access-Control-Allow-Methods %q lacks %s", what, h.Get("Access-Control-Allow-Methods"), m)
		}
	}
	for _, name := range []string{"Authorization", "Content-Type", "If-Match", "If-None-Match", "If-None-Exist", "Prefer", "Accept"} {
		if !listed(h, "Access-Control-Allow-Headers", name) {
			t.Errorf("%s: Access-Control-Allow-Headers %q lacks %s", what, h.Get("Access-Control-Allow-Headers"), name)
		}
	}
	if h.Get("Access-Control-Max-Age") == "" {
		t.Errorf("%s: no Access-Control-Max-Age", what)
	}
	if h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("%s: Access-Control-Allow-Credentials %q: Portico reads no cookies", what, h.Get("Access-Control-Allow-Credentials"))
	}
}

// wantAllowed checks an actual answer that a page of origin may read (allow as above).
func wantAllowed(t *testing.T, what string, h http.Header, allow string) {
	t.Helper()
	if got := h.Get("Access-Control-Allow-Origin"); got != allow {
		t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", what, got, allow)
	}
	for _, name := range []string{"Location", "ETag", "Content-Location", "Last-Modified", "WWW-Authenticate"} {
		if !listed(h, "Access-Control-Expose-Headers", name) {
			t.Errorf("%s: Access-Control-Expose-Headers %q lacks %s", what, h.Get("Access-Control-Expose-Headers"), name)
		}
	}
	if h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("%s: Access-Control-Allow-Credentials %q", what, h.Get("Access-Control-Allow-Credentials"))
	}
}

func wantNoCORS(t *testing.T, what string, h http.Header) {
	t.Helper()
	if ac := accessControl(h); len(ac) > 0 {
		t.Errorf("%s: CORS headers %v, want none", what, ac)
	}
}

func wantVaryOrigin(t *testing.T, what string, h http.Header, want bool) {
	t.Helper()
	if listed(h, "Vary", "Origin") != want {
		t.Errorf("%s: Vary %q, want Origin listed: %v", what, h.Values("Vary"), want)
	}
}

// wantOutcome checks that an error's body is an OperationOutcome.
func wantOutcome(t *testing.T, what string, body []byte) {
	t.Helper()
	var o struct{ ResourceType string }
	if err := json.Unmarshal(body, &o); err != nil || o.ResourceType != "OperationOutcome" {
		t.Errorf("%s: body %s, want an OperationOutcome", what, body)
	}
}

// TestCORSExactOrigins: with --cors-origins listing origins, their preflights are answered
// without a token, every answer (errors included) tells the browser they may read it, and
// other origins get no CORS headers while their requests are handled as usual.
func TestCORSExactOrigins(t *testing.T) {
	en := newAuthEnvWith(t, func(c *Config) { c.CORSOrigins = appOrigin + ", http://localhost:3000" })
	tok := en.systemToken("system/Patient.cruds")

	t.Run("preflight without a token", func(t *testing.T) {
		for _, tc := range []struct{ path, method, origin string }{
			{"/Patient", http.MethodPost, appOrigin},
			{"/Patient/x", http.MethodPut, appOrigin},
			{"/Patient/x", http.MethodDelete, "http://localhost:3000"},
			{"/Patient/x", http.MethodPatch, appOrigin},
			{"/Observation?patient=x", http.MethodGet, appOrigin},
			{"/metadata", http.MethodGet, appOrigin},
			{"", http.MethodPost, appOrigin}, // batch and transaction at the base
		} {
			what := "OPTIONS " + tc.path + " for " + tc.method + " from " + tc.origin
			status, h := en.preflight(tc.path, tc.origin, tc.method)
			wantPreflight(t, what, status, h, tc.origin)
			wantVaryOrigin(t, what, h, true)
		}
	})

	t.Run("preflight from another origin", func(t *testing.T) {
		for _, origin := range []string{otherOrigin, "http://app.example", "https://app.example:8443", "null"} {
			status, h := en.preflight("/Patient", origin, http.MethodPost)
			if status == http.StatusOK { // as any OPTIONS: Echo's 204 with Allow, and no CORS header
				t.Errorf("preflight from %s: %d, want no 200", origin, status)
			}
			wantNoCORS(t, "preflight from "+origin, h)
			wantVaryOrigin(t, "preflight from "+origin, h, true)
		}
	})

	t.Run("answers and errors carry the headers", func(t *testing.T) {
		patient := `{"resourceType":"Patient","name":[{"family":"Chalmers"}]}`
		for _, tc := range []struct {
			what         string
			tok          string
			method, path string
			body         string
			want         int
		}{
			{"no token", "", http.MethodGet, "/Patient", "", http.StatusUnauthorized},
			{"bad token", "not.a.token", http.MethodGet, "/Patient", "", http.StatusUnauthorized},
			{"scope not granted", tok, http.MethodGet, "/Observation", "", http.StatusForbidden},
			{"not found", tok, http.MethodGet, "/Patient/missing", "", http.StatusNotFound},
			{"unknown type", tok, http.MethodGet, "/Nothing", "", http.StatusNotFound},
			{"bad JSON", tok, http.MethodPost, "/Patient", "{", http.StatusBadRequest},
			{"version conflict", tok, http.MethodPut, "/Patient/cors-p1", `{"resourceType":"Patient","id":"cors-p1"}`, http.StatusPreconditionFailed},
			{"create", tok, http.MethodPost, "/Patient", patient, http.StatusCreated},
			{"search", tok, http.MethodGet, "/Patient?family=Chalmers", "", http.StatusOK},
			{"metadata", "", http.MethodGet, "/metadata", "", http.StatusOK},
		} {
			var extra []string
			if tc.what == "version conflict" {
				extra = []string{"If-Match", `W/"7"`}
			}
			status, h, b := en.do(tc.tok, tc.method, tc.path, tc.body, append([]string{"Origin", appOrigin}, extra...)...)
			if status != tc.want {
				t.Errorf("%s: %d, want %d: %s", tc.what, status, tc.want, b)
				continue
			}
			wantAllowed(t, tc.what, h, appOrigin)
			wantVaryOrigin(t, tc.what, h, true)
			if status >= 400 {
				wantOutcome(t, tc.what, b)
			}
			if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: no WWW-Authenticate to expose", tc.what)
			}
			if status == http.StatusCreated && (h.Get("Location") == "" || h.Get("ETag") == "" || h.Get("Last-Modified") == "") {
				t.Errorf("%s: Location %q ETag %q Last-Modified %q", tc.what, h.Get("Location"), h.Get("ETag"), h.Get("Last-Modified"))
			}
		}
	})

	t.Run("other origins and same-origin requests", func(t *testing.T) {
		for _, origin := range []string{otherOrigin, ""} {
			var hdr []string
			if origin != "" {
				hdr = []string{"Origin", origin}
			}
			what := "GET /Patient from " + origin
			status, h, b := en.do(tok, http.MethodGet, "/Patient", "", hdr...)
			if status != http.StatusOK { // handled as usual
				t.Errorf("%s: %d %s", what, status, b)
			}
			wantNoCORS(t, what, h)
			wantVaryOrigin(t, what, h, true)
		}
	})

	t.Run("outside the FHIR API", func(t *testing.T) {
		root := strings.TrimSuffix(en.base, "/fhir")
		for _, p := range []string{"/healthz", "/readyz", "/auth/authorize"} {
			_, h, _ := sendURL(t, http.MethodGet, root+p, "", "Origin", appOrigin)
			wantNoCORS(t, p, h)
			status, h, _ := sendURL(t, http.MethodOptions, root+p, "", "Origin", appOrigin, "Access-Control-Request-Method", "GET")
			if h.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight of %s: %d with %v", p, status, accessControl(h))
			}
		}
	})
}

// TestCORSAnyOrigin: "*" lets every origin read the API's answers, and never allows
// credentials.
func TestCORSAnyOrigin(t *testing.T) {
	en := newAuthEnvWith(t, func(c *Config) { c.CORSOrigins = "*" })
	for _, origin := range []string{appOrigin, otherOrigin} {
		status, h := en.preflight("/Patient", origin, http.MethodGet)
		wantPreflight(t, "preflight from "+origin, status, h, "*")
		status, h, b := en.do("", http.MethodGet, "/Patient", "", "Origin", origin)
		if status != http.StatusUnauthorized {
			t.Errorf("GET without a token: %d", status)
		}
		wantOutcome(t, "401", b)
		wantAllowed(t, "401 for "+origin, h, "*")
	}
	_, h, _ := en.do("", http.MethodGet, "/metadata", "")
	wantNoCORS(t, "a request without Origin", h)
}

// TestCORSNone: by default the FHIR API sends no CORS header at all; a preflight is an
// OPTIONS request like any other (Echo's 204 with Allow), which no browser takes as consent.
func TestCORSNone(t *testing.T) {
	en := newAuthEnv(t)
	status, h := en.preflight("/Patient", appOrigin, http.MethodGet)
	if status == http.StatusOK {
		t.Errorf("preflight: %d, want no 200 (an OPTIONS as any other: 204 with Allow)", status)
	}
	wantNoCORS(t, "preflight", h)
	for _, p := range []string{"/Patient", "/metadata", "/Patient/x"} {
		_, h, _ := en.do("", http.MethodGet, p, "", "Origin", appOrigin)
		wantNoCORS(t, p, h)
		wantVaryOrigin(t, p, h, false)
	}
}

// TestCORSPublicEndpoints: the endpoints a SMART app calls before it has a token answer every
// origin, whatever --cors-origins says (as they did before it existed), and their errors too;
// the authorization pages, which the browser navigates to, answer none.
func TestCORSPublicEndpoints(t *testing.T) {
	for _, cors := range []string{"", appOrigin} {
		en := newAuthEnvWith(t, func(c *Config) { c.CORSOrigins = cors })
		root := strings.TrimSuffix(en.base, "/fhir")
		what := func(s string) string { return s + " (--cors-origins=" + cors + ")" }
		for _, p := range []string{"/fhir/.well-known/smart-configuration", "/auth/.well-known/openid-configuration", "/auth/jwks", "/auth/smart-style.json"} {
			status, h, _ := sendURL(t, http.MethodGet, root+p, "", "Origin", otherOrigin)
			if status != http.StatusOK {
				t.Errorf("%s: %d", what(p), status)
			}
			wantAllowed(t, what(p), h, "*")
			status, h, _ = sendURL(t, http.MethodOptions, root+p, "", "Origin", otherOrigin, "Access-Control-Request-Method", "GET")
			wantPreflight(t, what("preflight of "+p), status, h, "*")
		}
		for _, p := range []string{"/auth/token", "/auth/revoke", "/auth/introspect", "/auth/launch"} {
			status, h, _ := sendURL(t, http.MethodOptions, root+p, "", "Origin", otherOrigin,
				"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
			wantPreflight(t, what("preflight of "+p), status, h, "*")
		}
		status, h, b := sendURL(t, http.MethodPost, root+"/auth/token", "grant_type=nope",
			"Origin", otherOrigin, "Content-Type", "application/x-www-form-urlencoded")
		if status != http.StatusBadRequest || !strings.Contains(string(b), "unsupported_grant_type") {
			t.Errorf("%s: %d %s", what("token error"), status, b)
		}
		wantAllowed(t, what("token error"), h, "*")
		_, h, _ = sendURL(t, http.MethodGet, root+"/auth/authorize", "", "Origin", otherOrigin)
		wantNoCORS(t, what("/auth/authorize"), h)
	}
}

// TestCORSExternalProvider: with --oidc-issuer the SMART configuration (here its 503 before
// the provider is reached) answers every origin, and the FHIR API's 503 the listed ones.
func TestCORSExternalProvider(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	cfg := Defaults()
	cfg.DataDir, cfg.BaseURL, cfg.Auth = t.TempDir(), "http://"+ts.Listener.Addr().String()+"/fhir", AuthSMART
	cfg.OIDCIssuer, cfg.OIDCAudience = "http://127.0.0.1:1", cfg.BaseURL // nothing listens there
	cfg.CORSOrigins = appOrigin
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })

	status, h, _ := sendURL(t, http.MethodGet, cfg.BaseURL+"/.well-known/smart-configuration", "", "Origin", otherOrigin)
	if status != http.StatusServiceUnavailable {
		t.Errorf("smart-configuration before discovery: %d", status)
	}
	wantAllowed(t, "smart-configuration", h, "*")
	status, h, b := sendURL(t, http.MethodGet, cfg.BaseURL+"/Patient", "", "Origin", appOrigin, "Authorization", "Bearer x.y.z")
	if status != http.StatusServiceUnavailable {
		t.Errorf("FHIR API before discovery: %d %s", status, b)
	}
	wantOutcome(t, "503", b)
	wantAllowed(t, "FHIR API 503", h, appOrigin)
	status, h = (&authEnv{t: t, base: cfg.BaseURL}).preflight("/Patient", appOrigin, http.MethodGet)
	wantPreflight(t, "preflight", status, h, appOrigin)
}
