package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// authApp is a confidential app registered with `portico admin app create`.
type authApp struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// authClient drives Portico's /auth endpoints over HTTP as an app and its user's browser do.
type authClient struct {
	t      *testing.T
	origin string // http://ADDR
	hc     *http.Client
}

func newAuthClient(t *testing.T, origin string) *authClient {
	return &authClient{t: t, origin: origin, hc: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// postForm posts a form (with Basic credentials when app is given) and returns the status, the
// headers and the body.
func (a *authClient) postForm(path string, form url.Values, app *authApp, hdr ...string) (int, http.Header, string) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.origin+path, strings.NewReader(form.Encode()))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if app != nil {
		req.SetBasicAuth(url.QueryEscape(app.ClientID), url.QueryEscape(app.ClientSecret))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// inputRE finds the inputs of the authorization pages: hidden fields and ticked boxes.
var inputRE = regexp.MustCompile(`<input type="(hidden|checkbox)"[^>]* name="([^"]+)" value="([^"]*)"( checked)?`)

// formFields returns the fields a browser would submit from the page's last form.
func formFields(page string) url.Values {
	if i := strings.LastIndex(page, "<form"); i >= 0 {
		page = page[i:]
	}
	v := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(page, -1) {
		if m[1] == "hidden" || m[4] != "" {
			v.Add(html.UnescapeString(m[2]), html.UnescapeString(m[3]))
		}
	}
	return v
}

// signIn runs the authorization code flow with PKCE for app and a user, through the sign-in
// and consent pages, and returns the token response.
func (a *authClient) signIn(app authApp, redirect, scope, username, password string) map[string]any {
	a.t.Helper()
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	verifier := base64.RawURLEncoding.EncodeToString(buf)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {"s1"}, "aud": {a.origin + "/fhir"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	loc := a.approve(a.origin+"/auth/authorize?"+q.Encode(), username, password)
	return a.token(app, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}, http.StatusOK)
}

// approve does what the user's browser does with an app's authorize URL: it opens the sign-in
// page, signs in, allows everything the consent page offers, and returns the redirect to the
// app (with the code), without following it.
func (a *authClient) approve(authorizeURL, username, password string) *url.URL {
	a.t.Helper()
	resp, err := a.hc.Get(authorizeURL)
	if err != nil {
		a.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("GET %s: %d %s", authorizeURL, resp.StatusCode, page)
	}
	login := formFields(string(page))
	login.Set("username", username)
	login.Set("password", password)
	status, _, body := a.postForm("/auth/authorize", login, nil)
	if status != http.StatusOK {
		a.t.Fatalf("sign-in: %d %s", status, body)
	}
	consent := formFields(body)
	consent.Set("decision", "allow")
	status, h, body := a.postForm("/auth/authorize", consent, nil)
	loc, _ := url.Parse(h.Get("Location"))
	if status != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
		a.t.Fatalf("consent: %d %s %s", status, h.Get("Location"), body)
	}
	return loc
}

// token posts to /auth/token and checks the status.
func (a *authClient) token(app authApp, form url.Values, want int) map[string]any {
	a.t.Helper()
	status, _, body := a.postForm("/auth/token", form, &app)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil || status != want {
		a.t.Fatalf("token: %d %s, want %d", status, body, want)
	}
	return m
}

// introspect asks /auth/introspect about token as caller.
func (a *authClient) introspect(caller authApp, token string) map[string]any {
	a.t.Helper()
	status, _, body := a.postForm("/auth/introspect", url.Values{"token": {token}}, &caller)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil || status != http.StatusOK {
		a.t.Fatalf("introspect: %d %s", status, body)
	}
	return m
}

// fhirStatus is the status of GET path under the FHIR base with a bearer token.
func (a *authClient) fhirStatus(token, path string) int {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.origin+"/fhir/"+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitRefused polls until the token gets 401 and returns how long that took after since.
func (a *authClient) waitRefused(token string, since time.Time) time.Duration {
	a.t.Helper()
	for time.Since(since) < 10*time.Second {
		if a.fhirStatus(token, "Observation?patient=p1") == http.StatusUnauthorized {
			return time.Since(since)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(since) // still accepted 10 s later: the caller reports it
}

// TestDisableRevokesTokens: `portico admin user disable` and `app disable`, run as separate
// processes against the store of a running Portico, stop the access tokens (API and
// introspection) and the refresh tokens of that user or app within 5 seconds.
func TestDisableRevokesTokens(t *testing.T) {
	addr := freeAddr(t)
	dataDir := t.TempDir()
	startServe(t, addr, "/readyz", "--data-dir", dataDir, "--auth", "smart")
	a := newAuthClient(t, "http://"+addr)
	const redirect = "https://app.example/callback"
	var app, rs authApp
	adminJSON(t, dataDir, nil, &app, "app", "create", "--name", "Portal", "--type", "confidential",
		"--redirect-uri", redirect, "--scope", "offline_access launch/patient patient/*.rs system/Patient.rs")
	adminJSON(t, dataDir, nil, &rs, "app", "create", "--name", "API", "--type", "resource-server")
	password := "correct horse battery staple"
	var u struct{ Username string }
	for _, name := range []string{"alice", "bob"} {
		adminJSON(t, dataDir, []string{"PORTICO_PASSWORD=" + password}, &u, "user", "create", "--username", name, "--fhir-user", "Patient/p1")
	}
	scope := "offline_access launch/patient patient/Observation.rs"
	alice, bob := a.signIn(app, redirect, scope, "alice", password), a.signIn(app, redirect, scope, "bob", password)
	aliceAT := alice["access_token"].(string)
	if s := a.fhirStatus(aliceAT, "Observation?patient=p1"); s != http.StatusOK {
		t.Fatalf("alice's token: %d", s)
	}
	if m := a.introspect(rs, aliceAT); m["active"] != true {
		t.Fatalf("alice's token introspects %v", m)
	}

	var out map[string]any
	adminJSON(t, dataDir, nil, &out, "user", "disable", "--username", "alice")
	if d := a.waitRefused(aliceAT, time.Now()); d > 5*time.Second+500*time.Millisecond {
		t.Errorf("alice's token was refused %v after the disable, want within 5 s", d)
	}
	if m := a.introspect(rs, aliceAT); m["active"] != false {
		t.Errorf("a disabled user's token introspects %v", m)
	}
	if m := a.token(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice["refresh_token"].(string)}}, http.StatusBadRequest); m["error"] != "invalid_grant" {
		t.Errorf("a disabled user's refresh token: %v", m)
	}
	bobAT := bob["access_token"].(string)
	if s := a.fhirStatus(bobAT, "Observation?patient=p1"); s != http.StatusOK {
		t.Errorf("bob's token after alice was disabled: %d", s)
	}

	appAT := a.token(app, url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}}, http.StatusOK)["access_token"].(string)
	adminJSON(t, dataDir, nil, &out, "app", "disable", "--client-id", app.ClientID)
	start := time.Now()
	// Both tokens are watched at once: watched one after the other, the second's time would
	// include the first's wait.
	waits := make([]time.Duration, 2)
	var wg sync.WaitGroup
	for i, tok := range []string{bobAT, appAT} {
		wg.Add(1)
		go func() { defer wg.Done(); waits[i] = a.waitRefused(tok, start) }()
	}
	wg.Wait()
	for i, tok := range []string{bobAT, appAT} {
		if d := waits[i]; d > 5*time.Second+500*time.Millisecond {
			t.Errorf("a disabled app's token was refused %v after the disable, want within 5 s", d)
		}
		if m := a.introspect(rs, tok); m["active"] != false {
			t.Errorf("a disabled app's token introspects %v", m)
		}
	}
	status, _, _ := a.postForm("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bob["refresh_token"].(string)}}, &app)
	if status != http.StatusUnauthorized {
		t.Errorf("a disabled app's refresh token: %d", status)
	}
}
