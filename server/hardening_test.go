package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/smart"
)

// hardEnv is a Portico with --auth=smart over HTTP whose configuration a test adjusts, with
// its log kept for inspection, a public app and a user.
type hardEnv struct {
	t      *testing.T
	ts     *httptest.Server
	srv    *Server
	origin string
	reg    *smart.Registry
	log    *lockedBuffer
	app    smart.Client
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const hardRedirect = "https://app.example/cb"

func newHardEnv(t *testing.T, change func(*Config)) *hardEnv {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	origin := "http://" + ts.Listener.Addr().String()
	cfg := Defaults()
	cfg.DataDir, cfg.BaseURL, cfg.Auth = t.TempDir(), origin+"/fhir", AuthSMART
	if change != nil {
		change(&cfg)
	}
	logs := &lockedBuffer{}
	srv, err := New(t.Context(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	adm, err := smart.New(smart.Config{Store: srv.Store(), BaseURL: cfg.BaseURL, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	en := &hardEnv{t: t, ts: ts, srv: srv, origin: origin, reg: adm.Registry(), log: logs}
	if en.app, _, err = en.reg.CreateClient(t.Context(), smart.Client{Name: "app", Type: smart.ClientPublic,
		RedirectURIs: []string{hardRedirect}, Scope: "launch/patient patient/*.rs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := en.reg.CreateUser(t.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	return en
}

// send sends a request with the headers given as name, value pairs and returns the status,
// the headers and the body.
func (en *hardEnv) send(method, path string, form url.Values, header ...string) (int, http.Header, string) {
	en.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(en.t.Context(), method, en.origin+path, body)
	if err != nil {
		en.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		en.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// loginForm opens the authorization page of the app and returns its sign-in form's fields.
func (en *hardEnv) loginForm() url.Values {
	en.t.Helper()
	sum := sha256.Sum256([]byte(strings.Repeat("v", 50)))
	q := url.Values{"response_type": {"code"}, "client_id": {en.app.ID}, "redirect_uri": {hardRedirect},
		"scope": {"launch/patient patient/*.rs"}, "state": {"s"}, "aud": {en.origin + "/fhir"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	status, _, page := en.send(http.MethodGet, "/auth/authorize?"+q.Encode(), nil)
	if status != http.StatusOK {
		en.t.Fatalf("authorization page: %d %s", status, page)
	}
	return formWithStep(en.t, page, "login")
}

// signIn posts the sign-in form as username from the client address xff (sent as
// X-Forwarded-For) and returns the status.
func (en *hardEnv) signIn(login url.Values, username, password, xff string) int {
	en.t.Helper()
	f := url.Values{}
	for k, v := range login {
		f[k] = v
	}
	f.Set("username", username)
	f.Set("password", password)
	status, _, _ := en.send(http.MethodPost, "/auth/authorize", f, "X-Forwarded-For", xff)
	return status
}

// TestTrustedProxies: behind a trusted proxy the client address comes from X-Forwarded-For,
// so 20 failed sign-ins from one client lock that client and not every user behind the proxy,
// and the request log names the client; from an untrusted peer the header is ignored, so
// writing a new address into it each time does not escape the address limit.
func TestTrustedProxies(t *testing.T) {
	en := newHardEnv(t, func(c *Config) { c.TrustedProxies = "127.0.0.0/8" })
	login := en.loginForm()
	for i := range 20 {
		if s := en.signIn(login, "guess"+string(rune('a'+i)), "wrong", "198.51.100.1"); s != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, s)
		}
	}
	if s := en.signIn(login, "alice", "alice password", "198.51.100.1"); s != http.StatusTooManyRequests {
		t.Errorf("the locked client: %d, want 429", s)
	}
	if s := en.signIn(login, "alice", "alice password", "198.51.100.2"); s != http.StatusOK {
		t.Errorf("another client behind the same proxy: %d, want 200", s)
	}
	if !strings.Contains(en.log.String(), `"client":"198.51.100.2"`) {
		t.Errorf("the request log does not name the client:\n%s", en.log.String())
	}

	direct := newHardEnv(t, nil)
	login = direct.loginForm()
	for i := range 20 {
		direct.signIn(login, "guess"+string(rune('a'+i)), "wrong", "203.0.113."+string(rune('1'+i%9)))
	}
	if s := direct.signIn(login, "alice", "alice password", "203.0.113.200"); s != http.StatusTooManyRequests {
		t.Errorf("a forged X-Forwarded-For from an untrusted peer escaped the limit: %d", s)
	}
	if !strings.Contains(direct.log.String(), `"client":"127.0.0.1"`) {
		t.Errorf("the request log should name the TCP peer:\n%s", direct.log.String())
	}
}

func TestTrustedProxiesConfig(t *testing.T) {
	cfg := Defaults()
	cfg.TrustedProxies = "10.0.0.0/8, 300.1.1.1"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "trusted-proxies") {
		t.Errorf("Validate: %v", err)
	}
}

// TestAuthRateLimit: --auth-rate-limit reaches the token endpoint (a burst of twice the rate,
// then 429 with Retry-After), and 0 turns it off.
func TestAuthRateLimit(t *testing.T) {
	junk := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"nobody"}}
	en := newHardEnv(t, func(c *Config) { c.AuthRateLimit = 1 })
	var statuses []int
	var retry string
	for range 3 {
		s, h, _ := en.send(http.MethodPost, "/auth/token", junk)
		statuses, retry = append(statuses, s), h.Get("Retry-After")
	}
	if statuses[0] == http.StatusTooManyRequests || statuses[1] == http.StatusTooManyRequests ||
		statuses[2] != http.StatusTooManyRequests || retry == "" {
		t.Errorf("statuses %v, Retry-After %q: want the third refused", statuses, retry)
	}
	off := newHardEnv(t, func(c *Config) { c.AuthRateLimit = 0 })
	for i := range 50 {
		if s, _, _ := off.send(http.MethodPost, "/auth/token", junk); s == http.StatusTooManyRequests {
			t.Fatalf("request %d limited with --auth-rate-limit 0", i+1)
		}
	}
}

// TestSlowBody: a client that sends its body a byte at a time is cut off at --read-timeout
// instead of holding the connection (and its goroutine) for as long as it likes.
func TestSlowBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.DataDir, cfg.BaseURL, cfg.Auth = t.TempDir(), "http://"+ln.Addr().String()+"/fhir", AuthNone
	cfg.ReadTimeout, cfg.WriteTimeout = 500*time.Millisecond, time.Second
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n{")
	go func() {
		for range 200 { // 20 s of trickle, unless the server hangs up first
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(conn) // whatever the server answers, it must then close the connection
	if elapsed := time.Since(start); err != nil || elapsed > 3*time.Second {
		t.Errorf("the connection ended after %v (%v), want it closed about 0.5 s after it opened", elapsed, err)
	}
}

// TestNoStoreHeaders: every answer under /fhir and /auth, from every part of the server
// (FHIR API, errors, public documents, the authorization server), is no-store and nosniff.
func TestNoStoreHeaders(t *testing.T) {
	en := newHardEnv(t, nil)
	open := newHardEnv(t, func(c *Config) { c.Auth = AuthNone })
	check := func(en *hardEnv, method, path string, form url.Values) {
		t.Helper()
		s, h, _ := en.send(method, path, form)
		if h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s (%d): Cache-Control %q, X-Content-Type-Options %q", method, path, s,
				h.Get("Cache-Control"), h.Get("X-Content-Type-Options"))
		}
	}
	for _, p := range []string{"/fhir/metadata", "/fhir/Patient", "/fhir/Patient/x", "/fhir/.well-known/smart-configuration",
		"/auth/jwks", "/auth/.well-known/openid-configuration", "/auth/authorize", "/auth/smart-style.json", "/fhir/nothing-here"} {
		check(en, http.MethodGet, p, nil)
	}
	check(en, http.MethodPost, "/auth/token", url.Values{"grant_type": {"nope"}})
	check(open, http.MethodGet, "/fhir/Patient", nil)
	check(open, http.MethodGet, "/fhir/Patient/missing", nil)
	if _, h, _ := en.send(http.MethodGet, "/healthz", nil); h.Get("Cache-Control") == "no-store" {
		t.Log("/healthz is outside /fhir and /auth: not required")
	}
}
