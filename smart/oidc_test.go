package smart_test

// Tests of the external OpenID Connect provider mode against a real provider: panva's
// oidc-provider from npm, started by tools/oidc-provider/provider.mjs (run `npm ci` there
// once). Portico runs in full (server.New on SQLite) behind httptest.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portico-health/portico/internal/needtool"
	"github.com/portico-health/portico/server"
)

var providerDir = filepath.Join("..", "tools", "oidc-provider")

// requireProvider skips the test when node or the provider's node_modules are missing, and
// fails it under CI=true, where .ci/run installs them and such a skip is unexpected.
func requireProvider(t *testing.T) {
	t.Helper()
	var why string
	if _, err := exec.LookPath("node"); err != nil {
		why = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(providerDir, "node_modules", "oidc-provider")); err != nil {
		why = "tools/oidc-provider/node_modules is missing (run npm ci --no-audit --no-fund there)"
	}
	if why == "" {
		return
	}
	needtool.Unavailable(t, why)
}

// provider is one running provider.mjs.
type provider struct {
	Issuer string
	Kids   []string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer
	once   sync.Once
}

// providerStartWait bounds the provider's start (a second on an idle machine). CI runs the
// browser tests and the model's generation beside it on two cores, and one start there once
// took over a minute (stderr showed it between loading oidc-provider and its key): a bound on a
// hang, not a measure.
const providerStartWait = 4 * time.Minute

// startProvider runs provider.mjs with args and waits for its issuer line.
func startProvider(t *testing.T, args ...string) *provider {
	t.Helper()
	cmd := exec.Command("node", append([]string{"provider.mjs"}, args...)...)
	cmd.Dir = providerDir
	p := &provider{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		if !ok || json.Unmarshal([]byte(l), p) != nil || p.Issuer == "" {
			p.Stop()
			t.Fatalf("provider.mjs did not start: %q\n%s", l, p.stderr)
		}
	case <-time.After(providerStartWait):
		p.Stop()
		t.Fatalf("provider.mjs did not start within %v\n%s", providerStartWait, p.stderr)
	}
	return p
}

// Stop ends the provider (it also exits by itself when its stdin closes).
func (p *provider) Stop() {
	p.once.Do(func() {
		p.stdin.Close()
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
}

func (p *provider) port() string {
	u, _ := url.Parse(p.Issuer)
	return u.Port()
}

// portico is a Portico in the external-provider mode.
type portico struct {
	t    *testing.T
	base string // FHIR base URL, also the audience
	srv  *server.Server
}

func startPortico(t *testing.T, issuer string) *portico {
	t.Helper()
	var h atomic.Pointer[http.Handler]
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.BaseURL = ts.URL + "/fhir"
	cfg.OIDCIssuer = issuer
	cfg.OIDCAudience = cfg.BaseURL
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	handler := srv.Handler()
	h.Store(&handler)
	return &portico{t: t, base: cfg.BaseURL, srv: srv}
}

// do sends a request to Portico (path relative to the server root, or absolute) and returns
// the status, the WWW-Authenticate header and the body.
func (pc *portico) do(method, path, token, body string) (int, http.Header, []byte) {
	pc.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = strings.TrimSuffix(pc.base, "/fhir") + path
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(pc.t.Context(), method, u, rd)
	if err != nil {
		pc.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		pc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// waitReady polls /readyz until 200.
func (pc *portico) waitReady(within time.Duration) {
	pc.t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, _, b := pc.do("GET", "/readyz", "", "")
		if status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			pc.t.Fatalf("/readyz still %d after %s: %s", status, within, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tokenURL is the token endpoint as an app finds it: in Portico's SMART configuration.
func (pc *portico) tokenURL() string {
	pc.t.Helper()
	status, _, b := pc.do("GET", "/fhir/.well-known/smart-configuration", "", "")
	var doc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &doc) != nil || doc.TokenEndpoint == "" {
		pc.t.Fatalf("smart-configuration: %d %s", status, b)
	}
	return doc.TokenEndpoint
}

// token gets an access token from the provider's token endpoint with client_credentials.
func token(t *testing.T, tokenURL, client, resource string, scopes ...string) string {
	t.Helper()
	cfg := clientcredentials.Config{
		ClientID: client, ClientSecret: "secret-" + client, TokenURL: tokenURL, Scopes: scopes,
		EndpointParams: url.Values{"resource": {resource}}, AuthStyle: oauth2.AuthStyleInHeader,
	}
	tok, err := cfg.Token(t.Context())
	if err != nil {
		t.Fatalf("token for %s: %v", client, err)
	}
	return tok.AccessToken
}

// wantStatus checks a status; for 401 also the RFC 6750 challenge and the OperationOutcome.
func wantStatus(t *testing.T, what string, want, got int, h http.Header, body []byte) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d: %s", what, got, want, body)
	}
	if want >= 400 && !bytes.Contains(body, []byte(`"resourceType":"OperationOutcome"`)) {
		t.Errorf("%s: body is not an OperationOutcome: %s", what, body)
	}
	if want == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("%s: WWW-Authenticate = %q, want a Bearer challenge", what, h.Get("WWW-Authenticate"))
	}
}

// jwtPart decodes one part of a compact JWS.
func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func b64json(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestOIDCProvider(t *testing.T) {
	requireProvider(t)
	op := startProvider(t, "--port", "0")
	pc := startPortico(t, op.Issuer)
	pc.waitReady(30 * time.Second)
	tokenURL := pc.tokenURL()
	if tokenURL != op.Issuer+"/token" {
		t.Fatalf("smart-configuration token_endpoint = %q, want the provider's %q", tokenURL, op.Issuer+"/token")
	}

	// A token that expires in 2 s, used again at the end (exp + Portico's 10 s clock skew).
	short := token(t, tokenURL, "short", pc.base, "patient/*.rs")
	shortExp := time.Unix(int64(jwtPart(t, short, 1)["exp"].(float64)), 0)

	admin := token(t, tokenURL, "admin", pc.base, "system/*.cruds")
	for _, r := range []struct{ path, body string }{
		{"/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","name":[{"family":"One"}]}`},
		{"/fhir/Patient/p2", `{"resourceType":"Patient","id":"p2","name":[{"family":"Two"}]}`},
		{"/fhir/Observation/o1", `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/p1"}}`},
		{"/fhir/Observation/o2", `{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/p2"}}`},
		{"/fhir/Condition/c1", `{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"}}`},
	} {
		if status, _, b := pc.do("PUT", r.path, admin, r.body); status != http.StatusCreated && status != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", r.path, status, b)
		}
	}

	t.Run("public documents point at the provider", func(t *testing.T) {
		status, _, b := pc.do("GET", "/fhir/metadata", "", "")
		if status != http.StatusOK || !bytes.Contains(b, []byte(`"valueUri":"`+op.Issuer+`/token"`)) ||
			!bytes.Contains(b, []byte(`"valueUri":"`+op.Issuer+`/auth"`)) || !bytes.Contains(b, []byte("SMART-on-FHIR")) {
			t.Fatalf("metadata: %d %s", status, b)
		}
		status, _, b = pc.do("GET", "/fhir/.well-known/smart-configuration", "", "")
		var doc map[string]any
		if status != http.StatusOK || json.Unmarshal(b, &doc) != nil {
			t.Fatalf("smart-configuration: %d %s", status, b)
		}
		if doc["issuer"] != op.Issuer || doc["authorization_endpoint"] != op.Issuer+"/auth" || doc["jwks_uri"] != op.Issuer+"/jwks" {
			t.Errorf("smart-configuration = %s", b)
		}
		// Portico's own authorization server is off.
		status, _, b = pc.do("POST", "/auth/token", "", "")
		if status != http.StatusNotFound || !bytes.Contains(b, []byte(op.Issuer)) {
			t.Errorf("POST /auth/token: %d %s", status, b)
		}
		if status, _, b := pc.do("GET", "/auth/.well-known/openid-configuration", "", ""); status != http.StatusNotFound {
			t.Errorf("Portico's openid-configuration: %d %s", status, b)
		}
	})

	t.Run("system scopes", func(t *testing.T) {
		tok := token(t, tokenURL, "system", pc.base, "system/Patient.read", "system/Observation.rs")
		for _, path := range []string{"/fhir/Patient/p1", "/fhir/Patient/p2", "/fhir/Observation/o2", "/fhir/Observation?subject=Patient/p1"} {
			status, h, b := pc.do("GET", path, tok, "")
			wantStatus(t, path, http.StatusOK, status, h, b)
		}
		status, h, b := pc.do("GET", "/fhir/Condition/c1", tok, "")
		wantStatus(t, "Condition (out of scope)", http.StatusForbidden, status, h, b)
		// A client whose FHIR base ends in a slash asks for that resource: aud has the slash.
		slash := token(t, tokenURL, "system", pc.base+"/", "system/Patient.read")
		status, h, b = pc.do("GET", "/fhir/Patient/p1", slash, "")
		wantStatus(t, "aud with a trailing slash", http.StatusOK, status, h, b)
		status, h, b = pc.do("POST", "/fhir/Patient", tok, `{"resourceType":"Patient"}`)
		wantStatus(t, "create (read-only scopes)", http.StatusForbidden, status, h, b)
	})

	patientChecks := func(t *testing.T, tok string) {
		t.Helper()
		for _, path := range []string{"/fhir/Patient/p1", "/fhir/Observation/o1", "/fhir/Condition/c1"} {
			status, h, b := pc.do("GET", path, tok, "")
			wantStatus(t, path, http.StatusOK, status, h, b)
		}
		for _, path := range []string{"/fhir/Patient/p2", "/fhir/Observation/o2"} {
			status, h, b := pc.do("GET", path, tok, "")
			wantStatus(t, path+" (other patient: not found, as if it did not exist)", http.StatusNotFound, status, h, b)
		}
		status, h, b := pc.do("GET", "/fhir/Observation", tok, "")
		wantStatus(t, "search", http.StatusOK, status, h, b)
		if !bytes.Contains(b, []byte(`"id":"o1"`)) || bytes.Contains(b, []byte(`"id":"o2"`)) || bytes.Contains(b, []byte("Patient/p2")) {
			t.Errorf("a patient's search must hold its own Observation only: %s", b)
		}
		status, h, b = pc.do("POST", "/fhir/Observation", tok,
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`)
		wantStatus(t, "create with .rs", http.StatusForbidden, status, h, b)
	}
	t.Run("patient scopes and launch claims", func(t *testing.T) {
		patientChecks(t, token(t, tokenURL, "patient-p1", pc.base, "patient/*.rs"))
	})
	t.Run("v1 scopes", func(t *testing.T) {
		patientChecks(t, token(t, tokenURL, "patient-p1", pc.base, "patient/*.read"))
	})
	t.Run("scopes in an scp array", func(t *testing.T) {
		tok := token(t, tokenURL, "scp", pc.base, "patient/*.rs")
		if c := jwtPart(t, tok, 1); c["scope"] != nil || c["scp"] == nil {
			t.Fatalf("the scp client's token should carry scp only: %v", c)
		}
		patientChecks(t, tok)
	})

	t.Run("refused tokens", func(t *testing.T) {
		good := token(t, tokenURL, "patient-p1", pc.base, "patient/*.rs")
		header, payload := jwtPart(t, good, 0), jwtPart(t, good, 1)

		// Another issuer: a second provider, with its own keys, issuing for Portico's audience.
		other := startProvider(t, "--port", "0")
		otherTok := token(t, other.Issuer+"/token", "patient-p1", pc.base, "patient/*.rs")

		// A token signed by a key the provider never had, with the provider's iss and a kid
		// of the provider's JWKS (and one with an unknown kid).
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		forge := func(kid string) string {
			tk := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(payload))
			tk.Header["kid"], tk.Header["typ"] = kid, "at+jwt"
			s, err := tk.SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}

		// HS256 with the provider's public key as the HMAC secret (the classic confusion).
		pubPEM := providerPublicKeyPEM(t, op.Issuer+"/jwks", header["kid"].(string))
		hsTok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(payload))
		hsTok.Header["kid"] = header["kid"]
		hs, err := hsTok.SignedString(pubPEM)
		if err != nil {
			t.Fatal(err)
		}

		noneHeader := map[string]any{"alg": "none", "typ": "at+jwt", "kid": header["kid"]}
		goodParts := strings.Split(good, ".")
		tampered := maps(payload, map[string]any{"patient": "p2", "fhirUser": "Patient/p2"})

		for _, c := range []struct{ name, token string }{
			{"wrong audience", token(t, tokenURL, "patient-p1", "https://other.example/fhir", "patient/*.rs")},
			{"audience with two trailing slashes", token(t, tokenURL, "patient-p1", pc.base+"//", "patient/*.rs")},
			{"another issuer", otherTok},
			{"self-signed, provider's kid", forge(header["kid"].(string))},
			{"self-signed, unknown kid", forge("not-a-provider-kid")},
			{"alg none", b64json(noneHeader) + "." + goodParts[1] + "."},
			{"HS256 with the public key", hs},
			{"payload changed", goodParts[0] + "." + b64json(tampered) + "." + goodParts[2]},
			{"opaque", "2YotnFZFEjr1zCsicMWpAA"},
			{"garbage JWT", "a.b.c"},
		} {
			status, h, b := pc.do("GET", "/fhir/Patient/p1", c.token, "")
			wantStatus(t, c.name, http.StatusUnauthorized, status, h, b)
			if !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("%s: WWW-Authenticate = %q", c.name, h.Get("WWW-Authenticate"))
			}
		}
		status, h, b := pc.do("GET", "/fhir/Patient/p1", "", "")
		wantStatus(t, "no token", http.StatusUnauthorized, status, h, b)
		// The good token still works after all that.
		status, h, b = pc.do("GET", "/fhir/Patient/p1", good, "")
		wantStatus(t, "good token", http.StatusOK, status, h, b)
	})

	t.Run("expired", func(t *testing.T) {
		time.Sleep(time.Until(shortExp.Add(11 * time.Second)))
		status, h, b := pc.do("GET", "/fhir/Patient/p1", short, "")
		wantStatus(t, "expired token", http.StatusUnauthorized, status, h, b)
	})
	t.Run("short token was good before it expired", func(t *testing.T) {
		// (checked last so that the cache of verified tokens cannot hide the expiry above)
		fresh := token(t, tokenURL, "short", pc.base, "patient/*.rs")
		status, h, b := pc.do("GET", "/fhir/Patient/p1", fresh, "")
		wantStatus(t, "fresh short token", http.StatusOK, status, h, b)
	})
}

func maps(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// providerPublicKeyPEM returns the PEM of the provider's RSA public key kid.
func providerPublicKeyPEM(t *testing.T, jwksURL, kid string) []byte {
	t.Helper()
	resp, err := http.Get(jwksURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Kid != kid {
			continue
		}
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	t.Fatalf("kid %s not in %s", kid, jwksURL)
	return nil
}

// TestOIDCKeyRotation restarts the provider on the same port with a new signing key first
// and the old one kept: Portico must accept tokens of both, fetching the JWKS again for the
// new kid.
func TestOIDCKeyRotation(t *testing.T) {
	requireProvider(t)
	keys := filepath.Join(t.TempDir(), "keys.json")
	op := startProvider(t, "--port", "0", "--keys", keys)
	pc := startPortico(t, op.Issuer)
	pc.waitReady(30 * time.Second)
	tokenURL := pc.tokenURL()
	sys := func() string { return token(t, tokenURL, "system", pc.base, "system/Patient.read") }

	before := sys()
	if status, h, b := pc.do("GET", "/fhir/Patient", before, ""); status != http.StatusOK {
		wantStatus(t, "before rotation", http.StatusOK, status, h, b)
	}
	port := op.port()
	op.Stop()
	op2 := startProvider(t, "--port", port, "--keys", keys, "--new-key")
	if op2.Issuer != op.Issuer || len(op2.Kids) != 2 || op2.Kids[1] != op.Kids[0] {
		t.Fatalf("restart: issuer %s kids %v, before %s %v", op2.Issuer, op2.Kids, op.Issuer, op.Kids)
	}
	// Portico lets one JWKS fetch per second reach the provider.
	time.Sleep(1100 * time.Millisecond)
	after := sys()
	if kid := jwtPart(t, after, 0)["kid"]; kid != op2.Kids[0] {
		t.Fatalf("the new token is signed with %v, want the new key %s", kid, op2.Kids[0])
	}
	for name, tok := range map[string]string{"new key": after, "old key, still published": before} {
		status, h, b := pc.do("GET", "/fhir/Patient", tok, "")
		wantStatus(t, name, http.StatusOK, status, h, b)
	}
}

// TestOIDCDiscoveryRetry starts Portico while the provider is down: /readyz, the FHIR API and
// /fhir/metadata answer 503 until the provider comes up, then tokens work without a restart.
func TestOIDCDiscoveryRetry(t *testing.T) {
	requireProvider(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	issuer := "http://127.0.0.1:" + port
	pc := startPortico(t, issuer)

	for _, path := range []string{"/readyz", "/fhir/Patient", "/fhir/metadata", "/fhir/.well-known/smart-configuration"} {
		status, h, b := pc.do("GET", path, "some.token.value", "")
		if status != http.StatusServiceUnavailable {
			t.Fatalf("%s while the provider is down: %d %s", path, status, b)
		}
		if strings.HasPrefix(path, "/fhir/") && !strings.Contains(path, "well-known") {
			wantStatus(t, path, http.StatusServiceUnavailable, status, h, b)
			if h.Get("Retry-After") == "" || !bytes.Contains(b, []byte(`"code":"transient"`)) {
				t.Errorf("%s: want Retry-After and a transient issue: %v %s", path, h, b)
			}
		}
	}
	if status, _, _ := pc.do("GET", "/healthz", "", ""); status != http.StatusOK {
		t.Fatalf("/healthz: %d", status)
	}

	op := startProvider(t, "--port", port)
	if op.Issuer != issuer {
		t.Fatalf("provider issuer %s, want %s", op.Issuer, issuer)
	}
	pc.waitReady(30 * time.Second) // retries after 1, 2, 4, 8... s
	tok := token(t, pc.tokenURL(), "system", pc.base, "system/Patient.read")
	status, h, b := pc.do("GET", "/fhir/Patient", tok, "")
	wantStatus(t, "after discovery", http.StatusOK, status, h, b)
}

func TestOIDCConfigValidate(t *testing.T) {
	base := server.Defaults()
	for _, c := range []struct {
		name             string
		issuer, audience string
		auth             string
		want             string // "" = valid
	}{
		{"https", "https://idp.example.org/realms/h", "https://portal.example/fhir", "", ""},
		{"http on loopback", "http://127.0.0.1:9000", "aud", "", ""},
		{"http on localhost", "http://localhost:9000", "aud", "", ""},
		{"no audience", "https://idp.example.org", "", "", "oidc-audience: required"},
		{"audience without issuer", "", "aud", "", "oidc-issuer: required"},
		{"plain http", "http://idp.example.org", "aud", "", "must be https"},
		{"relative", "idp.example.org", "aud", "", "not an absolute URL"},
		{"query", "https://idp.example.org/?x=1", "aud", "", "not an absolute URL"},
		{"auth none", "https://idp.example.org", "aud", server.AuthNone, "needs --auth=smart"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			cfg.OIDCIssuer, cfg.OIDCAudience = c.issuer, c.audience
			if c.auth != "" {
				cfg.Auth = c.auth
			}
			err := cfg.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want an error with %q", err, c.want)
			}
		})
	}
	cfg := base
	cfg.OIDCIssuer, cfg.OIDCAudience, cfg.OIDCPatientClaim = "https://idp.example.org", "aud", "pat ient"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "oidc-patient-claim") {
		t.Fatalf("a claim name with a space: %v", err)
	}
}
