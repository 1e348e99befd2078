package server

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/net/html"

	"github.com/portico-health/portico/smart"
)

// authEnv is a Portico with --auth=smart over HTTP, on the embedded store, with tokens minted
// through the real /auth endpoints: client_credentials with a private_key_jwt assertion for a
// Backend Services client, and the authorization_code flow (sign-in and consent pages driven
// as plain form posts, PKCE S256) for a patient's app.
type authEnv struct {
	t    *testing.T
	ts   *httptest.Server
	base string
	reg  *smart.Registry
	key  *rsa.PrivateKey
}

func newAuthEnv(t *testing.T) *authEnv { return newAuthEnvWith(t, nil) }

// newAuthEnvWith is newAuthEnv with the configuration adjusted by change.
func newAuthEnvWith(t *testing.T, change func(*Config)) *authEnv {
	t.Helper()
	return newAuthEnvLog(t, slog.New(slog.DiscardHandler), change)
}

// newAuthEnvLog is newAuthEnvWith with the server's log going to log.
func newAuthEnvLog(t *testing.T, log *slog.Logger, change func(*Config)) *authEnv {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String() + "/fhir"
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.BaseURL = base
	cfg.Auth = AuthSMART
	if change != nil {
		change(&cfg)
	}
	srv, err := New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	// The registry is records in the store, as `portico admin` uses it.
	adm, err := smart.New(smart.Config{Store: srv.Store(), BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &authEnv{t: t, ts: ts, base: base, reg: adm.Registry(), key: key}
}

func (en *authEnv) authURL(p string) string {
	return strings.TrimSuffix(en.base, "/fhir") + "/auth" + p
}

// systemToken registers a Backend Services client and gets a token for scope.
func (en *authEnv) systemToken(scope string) string {
	t := en.t
	t.Helper()
	jwk := smart.RSAPublicJWK(&en.key.PublicKey, "RS384")
	raw, _ := json.Marshal(smart.JWKS{Keys: []smart.JWK{jwk}})
	c, _, err := en.reg.CreateClient(t.Context(), smart.Client{Name: "backend", Type: smart.ClientBackend, Scope: scope, JWKS: raw})
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS384, jwt.MapClaims{
		"iss": c.ID, "sub": c.ID, "aud": en.authURL("/token"),
		"exp": time.Now().Add(4 * time.Minute).Unix(), "jti": uuid.NewString(),
	})
	tok.Header["kid"] = jwk.Kid
	assertion, err := tok.SignedString(en.key)
	if err != nil {
		t.Fatal(err)
	}
	return en.token(url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
}

func (en *authEnv) token(form url.Values) string {
	en.t.Helper()
	resp, err := http.PostForm(en.authURL("/token"), form)
	if err != nil {
		en.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	tok, _ := body["access_token"].(string)
	if resp.StatusCode != http.StatusOK || tok == "" {
		en.t.Fatalf("token endpoint: %d %v", resp.StatusCode, body)
	}
	return tok
}

// patientToken signs in as a new user who is Patient/pid in a new public app, consents to
// everything asked, and exchanges the code.
func (en *authEnv) patientToken(pid, scope string) string {
	en.t.Helper()
	return en.userToken("Patient/"+pid, scope)
}

// userToken is patientToken for a user whose FHIR resource is fhirUser (Practitioner/7,
// Person/3...); scope must not ask for a patient to be picked.
func (en *authEnv) userToken(fhirUser, scope string) string {
	t := en.t
	t.Helper()
	pid := strings.ReplaceAll(fhirUser, "/", "-")
	const redirect = "https://app.example/cb"
	c, _, err := en.reg.CreateClient(t.Context(), smart.Client{Name: "app", Type: smart.ClientPublic, RedirectURIs: []string{redirect}, Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	user := "user-" + pid + "-" + uuid.NewString()[:8]
	if _, err := en.reg.CreateUser(t.Context(), user, "a long password", fhirUser); err != nil {
		t.Fatal(err)
	}
	verifier := strings.Repeat("v", 20) + uuid.NewString()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {"s"}, "aud": {en.base}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(resp *http.Response, err error) (int, string, string) {
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	_, _, page := get(hc.Get(en.authURL("/authorize?") + q.Encode()))
	login := formWithStep(t, page, "login")
	login.Set("username", user)
	login.Set("password", "a long password")
	_, _, page = get(hc.PostForm(en.authURL("/authorize"), login))
	consent := formWithStep(t, page, "consent")
	consent.Set("decision", "allow")
	status, loc, page := get(hc.PostForm(en.authURL("/authorize"), consent))
	u, _ := url.Parse(loc)
	if status != http.StatusSeeOther || u == nil || u.Query().Get("code") == "" {
		t.Fatalf("after consent: %d %s %s", status, loc, page)
	}
	return en.token(url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {redirect}, "client_id": {c.ID}, "code_verifier": {verifier}})
}

// formWithStep returns the fields a browser would submit from the form whose hidden step is
// step: hidden and text inputs, and checked boxes.
func formWithStep(t *testing.T, page, step string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var forms []url.Values
	var walk func(n *html.Node, cur url.Values)
	walk = func(n *html.Node, cur url.Values) {
		attr := func(k string) (string, bool) {
			for _, a := range n.Attr {
				if a.Key == k {
					return a.Val, true
				}
			}
			return "", false
		}
		if n.Type == html.ElementNode && n.Data == "form" {
			cur = url.Values{}
			forms = append(forms, cur)
		}
		if n.Type == html.ElementNode && n.Data == "input" && cur != nil {
			name, _ := attr("name")
			typ, _ := attr("type")
			val, _ := attr("value")
			_, checked := attr("checked")
			if name != "" && (typ != "checkbox" && typ != "radio" || checked) {
				cur.Add(name, val)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	for _, f := range forms {
		if f.Get("step") == step {
			return f
		}
	}
	t.Fatalf("no %s form in %s", step, page)
	return nil
}

// do sends a request with a bearer token ("" for none) and returns status, headers and body.
func (en *authEnv) do(tok, method, path, body string, header ...string) (int, http.Header, []byte) {
	en.t.Helper()
	req, err := http.NewRequestWithContext(en.t.Context(), method, en.base+path, strings.NewReader(body))
	if err != nil {
		en.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", "application/fhir+json")
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		en.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (en *authEnv) must(tok, method, path, body string, want int) []byte {
	en.t.Helper()
	status, _, b := en.do(tok, method, path, body)
	if status != want {
		en.t.Errorf("%s %s: %d, want %d: %s", method, path, status, want, b)
	}
	return b
}

// resources lists Type/id of every resource anywhere in a JSON document (also inside nested
// Bundles of batch responses), and of every entry fullUrl (tombstones in histories).
func resources(t *testing.T, body []byte, base string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			rt, _ := x["resourceType"].(string)
			id, _ := x["id"].(string)
			if rt != "" && id != "" && rt != "Bundle" && rt != "OperationOutcome" {
				out = append(out, rt+"/"+id)
			}
			if fu, ok := x["fullUrl"].(string); ok && strings.HasPrefix(fu, base+"/") {
				out = append(out, strings.TrimPrefix(fu, base+"/"))
			}
			for _, m := range x {
				walk(m)
			}
		case []any:
			for _, m := range x {
				walk(m)
			}
		}
	}
	walk(v)
	slices.Sort(out)
	return slices.Compact(out)
}

func outcomeCode(t *testing.T, body []byte) string {
	var oo struct {
		ResourceType string
		Issue        []struct{ Code string }
	}
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Errorf("not an OperationOutcome: %s", body)
		return ""
	}
	return oo.Issue[0].Code
}

func TestAuthorizationAcrossEndpoints(t *testing.T) {
	en := newAuthEnv(t)
	sys := en.systemToken("system/*.cruds")

	// Three patients; p1's compartment holds o1 (subject), o3 (performer), e1, c1 and o6
	// (created below); everything else of a compartment type belongs to p2 or p3.
	obs := func(id, subject, performer, encounter, code string) string {
		s := `{"resourceType":"Observation",`
		if id != "" {
			s += `"id":"` + id + `",`
		}
		s += `"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"` + code + `"}]},"subject":{"reference":"Patient/` + subject + `"}`
		if performer != "" {
			s += `,"performer":[{"reference":"Patient/` + performer + `"}]`
		}
		if encounter != "" {
			s += `,"encounter":{"reference":"Encounter/` + encounter + `"}`
		}
		return s + `}`
	}
	for _, p := range []struct{ path, body string }{
		{"/Patient/p1", `{"resourceType":"Patient","id":"p1","name":[{"family":"Mine"}]}`},
		{"/Patient/p2", `{"resourceType":"Patient","id":"p2","name":[{"family":"Other"}]}`},
		{"/Patient/p3", `{"resourceType":"Patient","id":"p3","name":[{"family":"Third"}]}`},
		{"/Practitioner/pr1", `{"resourceType":"Practitioner","id":"pr1","name":[{"family":"Doc"}]}`},
		{"/Encounter/e1", `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"}}`},
		{"/Encounter/e2", `{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"}}`},
		{"/Observation/o1", obs("o1", "p1", "", "e1", "1111-1")},
		{"/Observation/o2", obs("o2", "p2", "", "e2", "1111-1")},
		{"/Observation/o2", obs("o2", "p2", "", "e2", "2222-2")}, // a second version
		{"/Observation/o3", obs("o3", "p3", "p1", "", "1111-1")},
		{"/Observation/o4", obs("o4", "p2", "p3", "e1", "1111-1")},
		{"/Observation/o5", obs("o5", "p2", "", "", "1111-1")},
		{"/Communication/c1", `{"resourceType":"Communication","id":"c1","status":"completed","sender":{"reference":"Patient/p1"},"payload":[{"contentString":"hello"}]}`},
		{"/Communication/c2", `{"resourceType":"Communication","id":"c2","status":"completed","sender":{"reference":"Patient/p2"},"subject":{"reference":"Patient/p2"},"payload":[{"contentString":"hi"}]}`},
	} {
		status, _, b := en.do(sys, http.MethodPut, p.path, p.body)
		if status != http.StatusOK && status != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", p.path, status, b)
		}
	}
	en.must(sys, http.MethodDelete, "/Observation/o5", "", http.StatusNoContent)

	p1 := en.patientToken("p1", "launch/patient openid fhirUser patient/*.cruds")
	obsOnly := en.patientToken("p1", "launch/patient patient/Observation.rs")

	others := []string{"Patient/p2", "Patient/p3", "Observation/o2", "Observation/o4", "Observation/o5",
		"Encounter/e2", "Communication/c2"}
	// noLeak fails when a response holds a resource outside p1's compartment.
	noLeak := func(what string, body []byte) []string {
		t.Helper()
		got := resources(t, body, en.base)
		for _, r := range got {
			if slices.Contains(others, r) {
				t.Errorf("%s returned %s, outside the patient's compartment: %v", what, r, got)
			}
		}
		return got
	}

	t.Run("no token is 401", func(t *testing.T) {
		for _, path := range []string{"/Patient/p1", "/Observation", "/_history", "", "/Communication/$triage-stats"} {
			status, h, b := en.do("", http.MethodGet, path, "")
			if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || outcomeCode(t, b) != "security" {
				t.Errorf("GET %s without token: %d %v %s", path, status, h, b)
			}
		}
		status, h, b := en.do("not.a.token", http.MethodGet, "/Patient/p1", "")
		if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("bad token: %d %v %s", status, h, b)
		}
		en.must("", http.MethodPost, "/Observation", obs("x", "p1", "", "", "1"), http.StatusUnauthorized)
	})

	t.Run("public routes", func(t *testing.T) {
		b := en.must("", http.MethodGet, "/metadata", "", http.StatusOK)
		for _, want := range []string{"SMART-on-FHIR", "oauth-uris", en.authURL("/token"), en.authURL("/authorize")} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metadata lacks %s", want)
			}
		}
		// introspect and revoke are not sub-extensions R4's oauth-uris allows: they are in
		// the SMART configuration only.
		if strings.Contains(string(b), "/introspect") || strings.Contains(string(b), "/revoke") {
			t.Errorf("metadata carries introspect or revoke in oauth-uris: %s", b)
		}
		conf := en.must("", http.MethodGet, "/.well-known/smart-configuration", "", http.StatusOK)
		for _, want := range []string{`"introspection_endpoint":"` + en.authURL("/introspect"), `"revocation_endpoint":"` + en.authURL("/revoke")} {
			if !strings.Contains(string(conf), want) {
				t.Errorf("smart-configuration lacks %s: %s", want, conf)
			}
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(en.ts.URL + p)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %v %v", p, resp, err)
			}
			resp.Body.Close()
		}
	})

	t.Run("read and vread", func(t *testing.T) {
		for _, path := range []string{"/Patient/p1", "/Observation/o1", "/Observation/o3", "/Encounter/e1", "/Communication/c1",
			"/Practitioner/pr1", "/Observation/o1/_history/1"} {
			en.must(p1, http.MethodGet, path, "", http.StatusOK)
		}
		// What the token may not see answers as what does not exist: 404, never 403.
		for _, path := range []string{"/Patient/p2", "/Observation/o2", "/Observation/o4", "/Encounter/e2", "/Communication/c2",
			"/Observation/o2/_history/1", "/Observation/o2/_history/2", "/Observation/nosuch"} {
			status, h, b := en.do(p1, http.MethodGet, path, "")
			if status != http.StatusNotFound || outcomeCode(t, b) != "not-found" {
				t.Errorf("GET %s: %d %v %s", path, status, h, b)
			}
		}
		en.must(sys, http.MethodGet, "/Observation/o2", "", http.StatusOK)
	})

	t.Run("denied types are 403", func(t *testing.T) {
		for _, path := range []string{"/Patient/p1", "/Communication", "/Communication/c1", "/Patient/_history", "/Encounter?_id=e1"} {
			status, _, b := en.do(obsOnly, http.MethodGet, path, "")
			if status != http.StatusForbidden {
				t.Errorf("observation-only token, GET %s: %d %s", path, status, b)
			}
		}
		got := noLeak("obsOnly search", en.must(obsOnly, http.MethodGet, "/Observation", "", http.StatusOK))
		if !slices.Equal(got, []string{"Observation/o1", "Observation/o3"}) {
			t.Errorf("Observation search with an Observation-only token: %v", got)
		}
		// A chain into a type the token may not search finds nothing there, as in a store
		// that held only what the token may see.
		if got := resources(t, en.must(obsOnly, http.MethodGet, "/Observation?subject:Patient.name=Mine", "", http.StatusOK), en.base); len(got) != 0 {
			t.Errorf("chain into Patient with an Observation-only token: %v", got)
		}
	})

	t.Run("search", func(t *testing.T) {
		cases := map[string][]string{
			"/Observation":                                  {"Observation/o1", "Observation/o3"},
			"/Observation?code=1111-1":                      {"Observation/o1", "Observation/o3"},
			"/Observation?subject=Patient/p2":               nil,
			"/Patient":                                      {"Patient/p1"},
			"/Patient?_id=p2":                               nil,
			"/Encounter":                                    {"Encounter/e1"},
			"/Communication?_id=c1,c2":                      {"Communication/c1"},
			"/Observation?subject:Patient.name=Other":       nil,
			"/Observation?subject.name=Mine":                {"Observation/o1"},
			"/Patient?_has:Observation:subject:code=1111-1": {"Patient/p1"},
			"/Patient?_has:Observation:subject:code=2222-2": nil,
			"/Observation?_include=Observation:subject":     {"Observation/o1", "Observation/o3", "Patient/p1"},
			"/Observation?_include=Observation:encounter":   {"Encounter/e1", "Observation/o1", "Observation/o3"},
			"/Encounter?_revinclude=Observation:encounter":  {"Encounter/e1", "Observation/o1"},
			"/Patient?_revinclude=Observation:subject&_revinclude=Communication:sender": {"Communication/c1", "Observation/o1", "Patient/p1"},
			"/?_type=Observation,Patient": {"Observation/o1", "Observation/o3", "Patient/p1"},
			"/Observation?_count=1":       nil, // checked for leaks only
		}
		for path, want := range cases {
			got := noLeak("GET "+path, en.must(p1, http.MethodGet, path, "", http.StatusOK))
			if want != nil && !slices.Equal(got, want) {
				t.Errorf("GET %s: %v, want %v", path, got, want)
			}
		}
		noLeak("system search", en.must(p1, http.MethodGet, "", "", http.StatusOK))
		status, _, b := en.do(p1, http.MethodPost, "/Observation/_search", "subject=Patient/p2", "Content-Type", "application/x-www-form-urlencoded")
		if status != http.StatusOK {
			t.Errorf("POST _search: %d %s", status, b)
		}
		noLeak("POST _search", b)
		noLeak("GET /Communication", en.must(p1, http.MethodGet, "/Communication", "", http.StatusOK))
		// A system token sees everything.
		if got := resources(t, en.must(sys, http.MethodGet, "/Observation", "", http.StatusOK), en.base); len(got) != 4 {
			t.Errorf("system token: %v", got)
		}
	})

	t.Run("history", func(t *testing.T) {
		noLeak("instance history", en.must(p1, http.MethodGet, "/Observation/o1/_history", "", http.StatusOK))
		en.must(p1, http.MethodGet, "/Observation/o2/_history", "", http.StatusNotFound)
		en.must(p1, http.MethodGet, "/Observation/o5/_history", "", http.StatusNotFound)
		// Type and system history cannot be confined without reading past hidden versions.
		en.must(p1, http.MethodGet, "/Observation/_history", "", http.StatusForbidden)
		en.must(p1, http.MethodGet, "/_history", "", http.StatusForbidden)
		en.must(obsOnly, http.MethodGet, "/_history", "", http.StatusForbidden)
		en.must(sys, http.MethodGet, "/_history", "", http.StatusOK)
	})

	t.Run("batch", func(t *testing.T) {
		b := en.must(p1, http.MethodPost, "", `{"resourceType":"Bundle","type":"batch","entry":[
			{"request":{"method":"GET","url":"Patient/p2"}},
			{"request":{"method":"GET","url":"Observation/o2/_history/1"}},
			{"request":{"method":"GET","url":"Observation/o2/_history"}},
			{"request":{"method":"GET","url":"Observation?_include=Observation:subject"}},
			{"request":{"method":"GET","url":"_history"}},
			{"request":{"method":"GET","url":"Patient/p1"}},
			{"request":{"method":"POST","url":"Observation"},"resource":`+obs("", "p2", "", "", "1")+`},
			{"request":{"method":"PUT","url":"Observation/o2"},"resource":`+obs("o2", "p1", "", "", "1")+`},
			{"request":{"method":"DELETE","url":"Observation/o4"}}
		]}`, http.StatusOK)
		noLeak("batch", b)
		var resp struct {
			Entry []struct{ Response struct{ Status string } }
		}
		json.Unmarshal(b, &resp)
		want := []string{"404", "404", "404", "200", "403", "200", "403", "403", "404"}
		for i, e := range resp.Entry {
			if !strings.HasPrefix(e.Response.Status, want[i]) {
				t.Errorf("batch entry %d: %s, want %s", i, e.Response.Status, want[i])
			}
		}
		en.must(sys, http.MethodGet, "/Observation/o4", "", http.StatusOK) // not deleted
	})

	t.Run("transaction", func(t *testing.T) {
		status, _, b := en.do(p1, http.MethodPost, "", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"fullUrl":"urn:uuid:6a1f6e0e-1f7e-4c55-9c8a-7f1d7a3f0a01","request":{"method":"POST","url":"Observation"},"resource":`+obs("", "p1", "", "", "1")+`},
			{"request":{"method":"POST","url":"Observation"},"resource":`+obs("", "p2", "", "", "1")+`}
		]}`)
		if status != http.StatusForbidden {
			t.Errorf("transaction writing for another patient: %d %s", status, b)
		}
		status, _, b = en.do(p1, http.MethodPost, "", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"request":{"method":"POST","url":"Observation"},"resource":`+obs("", "p1", "", "", "1")+`},
			{"request":{"method":"GET","url":"Observation/o2"}}
		]}`)
		if status != http.StatusOK {
			t.Fatalf("transaction: %d %s", status, b)
		}
		noLeak("transaction", b)
	})

	t.Run("writes", func(t *testing.T) {
		en.must(p1, http.MethodPost, "/Observation", obs("", "p1", "", "", "3"), http.StatusCreated)
		en.must(p1, http.MethodPost, "/Observation", obs("", "p2", "", "", "3"), http.StatusForbidden)
		en.must(p1, http.MethodPut, "/Observation/o2", obs("o2", "p1", "", "", "3"), http.StatusForbidden) // stored one is p2's
		en.must(p1, http.MethodPut, "/Observation/o1", obs("o1", "p2", "", "", "3"), http.StatusForbidden) // moving it out
		en.must(p1, http.MethodPut, "/Observation/new1", obs("new1", "p2", "", "", "3"), http.StatusForbidden)
		en.must(p1, http.MethodPut, "/Observation/o1", obs("o1", "p1", "", "e1", "1111-1"), http.StatusOK)
		en.must(p1, http.MethodDelete, "/Observation/o2", "", http.StatusNotFound) // hidden: as if missing
		// Conditional interactions see only what the token may search: o2 is no match, so
		// nothing is deleted (204) and the update creates the patient's own (201).
		en.must(p1, http.MethodDelete, "/Observation?_id=o2", "", http.StatusNoContent)
		en.must(p1, http.MethodPut, "/Observation?_id=o2", obs("", "p1", "", "", "3"), http.StatusCreated)
		status, _, b := en.do(p1, http.MethodPatch, "/Observation/o2", `[{"op":"replace","path":"/status","value":"amended"}]`, "Content-Type", "application/json-patch+json")
		if status != http.StatusNotFound {
			t.Errorf("patch of another patient's Observation: %d %s", status, b)
		}
		// A conditional create must neither hand out nor reveal another patient's resource it
		// would match: the criteria see only the patient's own, so it creates.
		status, _, b = en.do(p1, http.MethodPost, "/Observation", obs("", "p1", "", "", "3"), "If-None-Exist", "_id=o2")
		if status != http.StatusCreated || strings.Contains(string(b), `"id":"o2"`) {
			t.Errorf("conditional create matching o2: %d %s", status, b)
		}
		comm := func(sender, subject string) string {
			s := `{"resourceType":"Communication","status":"completed","sender":{"reference":"` + sender + `"}`
			if subject != "" {
				s += `,"subject":{"reference":"` + subject + `"}`
			}
			return s + `,"payload":[{"contentString":"question"}]}`
		}
		en.must(p1, http.MethodPost, "/Communication", comm("Patient/p1", "Patient/p1"), http.StatusCreated)
		en.must(p1, http.MethodPost, "/Communication", comm("Patient/p2", "Patient/p1"), http.StatusForbidden)
		en.must(p1, http.MethodPost, "/Communication", comm("Practitioner/pr1", "Patient/p1"), http.StatusForbidden)
		en.must(obsOnly, http.MethodPost, "/Observation", obs("", "p1", "", "", "3"), http.StatusForbidden) // no c
		en.must(sys, http.MethodGet, "/Observation/o2", "", http.StatusOK)
	})

	t.Run("triage statistics", func(t *testing.T) {
		en.must(p1, http.MethodGet, "/Communication/$triage-stats", "", http.StatusForbidden)
		en.must(sys, http.MethodGet, "/Communication/$triage-stats", "", http.StatusOK)
	})
}

func TestAuthNoneIsOpen(t *testing.T) {
	var logs strings.Builder
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Auth = AuthNone
	srv, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "--auth=none") {
		t.Errorf("no warning for --auth=none: %s", logs.String())
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/fhir/Patient")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("open server: %v %v", resp, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, _ = http.Get(hs.URL + "/fhir/metadata")
	meta, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(meta), "SMART-on-FHIR") {
		t.Errorf("an open server claims SMART security: %s %s", b, meta)
	}
	cfg.Auth = "maybe"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "auth") {
		t.Errorf("Validate(--auth=maybe): %v", err)
	}
}
