package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

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
