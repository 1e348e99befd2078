package smart

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/clientaddr"
	"github.com/portico-health/portico/policy"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// env is a Portico authorization server over HTTP on a real SQLite store, with a protected
// route GET /fhir/whoami that answers the caller's Principal.
type env struct {
	t   testing.TB
	ts  *httptest.Server
	srv *Server
	st  store.Store
	dir string

	mu     sync.Mutex
	offset time.Duration // added to the server's clock
}

func newEnv(t *testing.T) *env {
	return newEnvDir(t, t.TempDir())
}

// newBenchEnv is newEnv for benchmarks.
func newBenchEnv(b *testing.B) *env { return newEnvDir(b, b.TempDir()) }

func newEnvDir(t testing.TB, dir string) *env { return newEnvConfig(t, dir, nil) }

// newEnvConfig is newEnvDir with the server's configuration adjusted by change. The rate
// limits are off unless change turns them on: the tests send many requests from one address.
func newEnvConfig(t testing.TB, dir string, change func(*Config)) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	en := &env{t: t, st: st, dir: dir}
	var handler http.Handler
	// As the server does with --trusted-proxies: here the tests are the proxy, and name the
	// client they stand for with X-Forwarded-For.
	loopback, _ := clientaddr.ParseTrusted("127.0.0.0/8, ::1")
	en.ts = httptest.NewServer(clientaddr.New(loopback).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) })))
	t.Cleanup(en.ts.Close)
	cfg := Config{
		Store: st, BaseURL: en.ts.URL + "/fhir", Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Now: en.now, HTTPClient: en.ts.Client(), RateLimit: -1,
	}
	if change != nil {
		change(&cfg)
	}
	en.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		var se *Error
		if errors.As(err, &se) {
			_ = c.JSON(se.Status, map[string]string{"error": se.Code})
			return
		}
		e.DefaultHTTPErrorHandler(err, c)
	}
	en.srv.Register(e)
	e.GET("/fhir/whoami", func(c echo.Context) error {
		p, _ := policy.PrincipalFrom(c.Request().Context())
		return c.JSON(http.StatusOK, map[string]any{"client_id": p.ClientID, "scope": p.Scopes.String(), "sub": p.Subject})
	}, en.srv.Middleware())
	handler = e
	return en
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (en *env) now() time.Time {
	en.mu.Lock()
	defer en.mu.Unlock()
	return time.Now().Add(en.offset)
}

func (en *env) advance(d time.Duration) {
	en.mu.Lock()
	en.offset += d
	en.mu.Unlock()
}

// backend registers a Backend Services client holding an RSA and a P-384 key.
type backend struct {
	client Client
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	rsaKid string
	ecKid  string
}

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func testKeys(t testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey, ecKey
}

func (en *env) jwksOf(rk *rsa.PrivateKey, ek *ecdsa.PrivateKey) (JWKS, string, string) {
	rj := RSAPublicJWK(&rk.PublicKey, "RS384")
	ej, err := ECPublicJWK(&ek.PublicKey, "ES384")
	if err != nil {
		en.t.Fatal(err)
	}
	return JWKS{Keys: []JWK{rj, ej}}, rj.Kid, ej.Kid
}

// newBackend registers a backend client; with jwksURL it publishes its keys there instead
// of registering them.
func (en *env) newBackend(scope string, byURL bool) backend {
	en.t.Helper()
	rk, ek := testKeys(en.t)
	set, rkid, ekid := en.jwksOf(rk, ek)
	raw, _ := json.Marshal(set)
	c := Client{Name: "backend", Type: ClientBackend, Scope: scope}
	if byURL {
		js := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(raw)
		}))
		en.t.Cleanup(js.Close)
		c.JWKSURL = js.URL + "/jwks.json"
	} else {
		c.JWKS = raw
	}
	c, _, err := en.srv.Registry().CreateClient(en.t.Context(), c)
	if err != nil {
		en.t.Fatal(err)
	}
	return backend{client: c, rsa: rk, ec: ek, rsaKid: rkid, ecKid: ekid}
}

// assertion signs a client assertion for b with RS384 (or ES384 when ec), after letting
// change adjust the claims and header.
func (en *env) assertion(b backend, ec bool, change func(claims jwt.MapClaims, header map[string]any)) string {
	en.t.Helper()
	now := en.now()
	claims := jwt.MapClaims{
		"iss": b.client.ID, "sub": b.client.ID, "aud": en.srv.TokenURL(),
		"exp": now.Add(4 * time.Minute).Unix(), "jti": uuid.NewString(),
	}
	method, key, kid := jwt.SigningMethod(jwt.SigningMethodRS384), any(b.rsa), b.rsaKid
	if ec {
		method, key, kid = jwt.SigningMethodES384, b.ec, b.ecKid
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	if change != nil {
		change(claims, tok.Header)
	}
	s, err := tok.SignedString(key)
	if err != nil {
		en.t.Fatal(err)
	}
	return s
}

// post sends a form to path with optional Basic credentials and returns status, headers and
// decoded JSON body.
func (en *env) post(path string, form url.Values, basicUser, basicPass string) (int, http.Header, map[string]any) {
	en.t.Helper()
	req, err := http.NewRequestWithContext(en.t.Context(), http.MethodPost, en.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		en.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := en.ts.Client().Do(req)
	if err != nil {
		en.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			en.t.Fatalf("%s: body %q is not JSON: %v", path, body, err)
		}
	}
	return resp.StatusCode, resp.Header, m
}

// backendToken gets a token with an assertion and returns the response.
func (en *env) backendToken(assertion, scope string) (int, http.Header, map[string]any) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearerAssertion}, "client_assertion": {assertion}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return en.post("/auth/token", form, "", "")
}

// whoami calls the protected route with a bearer token ("" for none).
func (en *env) whoami(token string) (int, http.Header) {
	en.t.Helper()
	req, _ := http.NewRequestWithContext(en.t.Context(), http.MethodGet, en.ts.URL+"/fhir/whoami", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := en.ts.Client().Do(req)
	if err != nil {
		en.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
