package smart

import (
	"context"
	"errors"
	"github.com/portico-health/portico/policy"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// browser follows the authorization pages like a user without JavaScript: it submits the
// forms as they are written, and stops at the redirect to the app.
type browser struct {
	t  testing.TB
	en *env
	c  *http.Client
}

func (en *env) browser() *browser {
	c := *en.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: en.t, en: en, c: &c}
}

type page struct {
	status   int
	location string
	body     string
	forms    []form
}

type form struct {
	method, action string
	fields         url.Values // hidden and text inputs, checked boxes and radios
	boxes          []string   // values of every checkbox and radio, checked or not
}

func (f form) step() string { return f.fields.Get("step") }

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") && p.location == "" {
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
			b.t.Errorf("page headers %v", resp.Header)
		}
		p.forms = parseForms(b.t, string(body))
	}
	return p
}

func (b *browser) get(u string) page {
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) submit(f form) page {
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodPost, f.action, strings.NewReader(f.fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (p page) form(step string) (form, bool) {
	for _, f := range p.forms {
		if f.step() == step {
			return f, true
		}
	}
	return form{}, false
}

func parseForms(t testing.TB, body string) []form {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var forms []form
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		attr := func(k string) (string, bool) {
			for _, a := range n.Attr {
				if a.Key == k {
					return a.Val, true
				}
			}
			return "", false
		}
		if n.Type == html.ElementNode && n.Data == "form" {
			m, _ := attr("method")
			a, _ := attr("action")
			forms = append(forms, form{method: m, action: a, fields: url.Values{}})
			cur = &forms[len(forms)-1]
		}
		if n.Type == html.ElementNode && n.Data == "input" && cur != nil {
			name, _ := attr("name")
			typ, _ := attr("type")
			val, _ := attr("value")
			_, checked := attr("checked")
			switch typ {
			case "checkbox", "radio":
				cur.boxes = append(cur.boxes, val)
				if checked {
					cur.fields.Add(name, val)
				}
			default:
				if name != "" {
					cur.fields.Add(name, val)
				}
			}
			if id, ok := attr("id"); ok && typ != "hidden" && !strings.Contains(body, `for="`+id+`"`) {
				t.Errorf("input %s has no label", id)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return forms
}

// app is a registered SMART app with its golang.org/x/oauth2 configuration.
type app struct {
	client Client
	cfg    oauth2.Config
}

const appRedirect = "https://app.example/callback"

func (en *env) newApp(typ ClientType, scope string) app {
	en.t.Helper()
	c, secret, err := en.srv.Registry().CreateClient(en.t.Context(), Client{Name: "Test app", Type: typ,
		RedirectURIs: []string{appRedirect}, Scope: scope})
	if err != nil {
		en.t.Fatal(err)
	}
	style := oauth2.AuthStyleInParams
	if secret != "" {
		style = oauth2.AuthStyleInHeader
	}
	return app{client: c, cfg: oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: appRedirect,
		Endpoint: oauth2.Endpoint{AuthURL: en.srv.Issuer() + "/authorize", TokenURL: en.srv.TokenURL(), AuthStyle: style}}}
}

func (en *env) putPatient(id, json string) {
	en.t.Helper()
	r, err := fhir.ParseResource([]byte(json))
	if err != nil {
		en.t.Fatal(err)
	}
	idx, err := fhir.ExtractIndex(r)
	if err != nil {
		en.t.Fatal(err)
	}
	if err := en.st.Write(en.t.Context(), store.Write{Op: store.OpCreate, Type: "Patient", ID: id, Version: 1,
		LastUpdated: time.Now().UTC(), Body: []byte(json), Index: idx}); err != nil {
		en.t.Fatal(err)
	}
}

// staffAt gives Practitioner/pract a PractitionerRole at Organization/org, so that under the
// default staff reach the practitioner reaches the patients that organization manages.
func (en *env) staffAt(pract, org string) {
	en.t.Helper()
	en.putResource("Organization", org, `{"resourceType":"Organization","id":"`+org+`","name":"Clinic `+org+`"}`)
	en.putResource("PractitionerRole", pract+"-at-"+org, `{"resourceType":"PractitionerRole","id":"`+pract+`-at-`+org+`",`+
		`"practitioner":{"reference":"Practitioner/`+pract+`"},"organization":{"reference":"Organization/`+org+`"}}`)
}

func (en *env) ctx() context.Context {
	return context.WithValue(en.t.Context(), oauth2.HTTPClient, en.ts.Client())
}

// flow is one authorization: the user signs in, picks a patient when asked, unticks some
// scopes, and allows. It returns the redirect to the app.
type flow struct {
	scopes             []string
	username, password string
	patient            string   // radio to pick; "" for the first
	untick             []string // consent boxes to untick
	tick               []string // consent boxes to tick
	verifier           string
	extra              []oauth2.AuthCodeOption
}

func (b *browser) authorize(a app, f flow) *url.URL {
	b.t.Helper()
	a.cfg.Scopes = f.scopes
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oauth2.SetAuthURLParam("aud", b.en.srv.audience)}, f.extra...)
	p := b.get(a.cfg.AuthCodeURL("st4te", opts...))
	login, ok := p.form("login")
	if p.status != 200 || !ok {
		b.t.Fatalf("login page: %d %s", p.status, p.body)
	}
	login.fields.Set("username", f.username)
	login.fields.Set("password", f.password)
	p = b.submit(login)
	if picker, ok := p.form("patient"); ok {
		if f.patient != "" {
			picker.fields.Set("patient", f.patient)
		}
		p = b.submit(picker)
	}
	consent, ok := p.form("consent")
	if !ok {
		b.t.Fatalf("no consent page: %d %s", p.status, p.body)
	}
	consent.fields["grant"] = slices.DeleteFunc(consent.fields["grant"], func(s string) bool { return slices.Contains(f.untick, s) })
	for _, s := range f.tick {
		if !slices.Contains(consent.boxes, s) {
			b.t.Fatalf("no box %q on the consent page: %v", s, consent.boxes)
		}
		consent.fields.Add("grant", s)
	}
	consent.fields.Set("decision", "allow")
	p = b.submit(consent)
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("after consent: %d %s", p.status, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		b.t.Fatal(err)
	}
	if u.Query().Get("state") != "st4te" || u.Query().Get("iss") != b.en.srv.Issuer() {
		b.t.Errorf("redirect %s", u)
	}
	return u
}

var patientScopes = []string{"openid", "fhirUser", "launch/patient", "offline_access", "patient/Observation.rs", "patient/Patient.r"}

func TestStandaloneLaunch(t *testing.T) {
	en := newEnv(t)
	a := en.newApp(ClientPublic, "")
	if _, err := en.srv.Registry().CreateUser(t.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	redirect := en.browser().authorize(a, flow{scopes: patientScopes, username: "alice", password: "alice password",
		untick: []string{"patient/Patient.r"}, verifier: verifier, extra: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("nonce", "n-1")}})
	if !strings.HasPrefix(redirect.String(), appRedirect+"?") || redirect.Query().Get("code") == "" {
		t.Fatalf("redirect %s", redirect)
	}
	tok, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("scope"); got != "openid fhirUser launch/patient offline_access patient/Observation.rs" {
		t.Errorf("scope %q: the unticked scope must not be granted", got)
	}
	if tok.Extra("patient") != "p1" || tok.Extra("need_patient_banner") != true || tok.Extra("smart_style_url") == "" || tok.RefreshToken == "" {
		t.Errorf("token response %v", tok)
	}
	idt, _ := tok.Extra("id_token").(string)
	var idc jwt.MapClaims
	if _, err := jwt.ParseWithClaims(idt, &idc, func(*jwt.Token) (any, error) {
		return &en.srv.keys.current(t.Context()).key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(a.client.ID), jwt.WithIssuer(en.srv.Issuer())); err != nil {
		t.Fatalf("id_token: %v", err)
	}
	if idc["fhirUser"] != en.srv.audience+"/Patient/p1" || idc["nonce"] != "n-1" {
		t.Errorf("id_token claims %v", idc)
	}
	p, err := en.srv.VerifyAccessToken(t.Context(), tok.AccessToken)
	if err != nil || p.Patient != "p1" || p.FHIRUser != "Patient/p1" {
		t.Fatalf("principal %+v %v", p, err)
	}
	if d := policy.New(policy.Options{}).Decide(p, "Observation", policy.PermSearch); !d.Allow || !d.Restricted() {
		t.Errorf("patient token search: %+v", d)
	}

	t.Run("code reuse revokes the grant", func(t *testing.T) {
		_, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("reuse: %v", err)
		}
		if status, _ := en.whoami(tok.AccessToken); status != http.StatusUnauthorized {
			t.Errorf("access token of a reused code still works: %d", status)
		}
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {a.client.ID}}
		if _, _, body := en.post("/auth/token", refresh, "", ""); body["error"] != "invalid_grant" {
			t.Errorf("refresh token of a reused code: %v", body)
		}
	})
}

// code runs a flow for alice and returns the code and verifier.
func (en *env) code(a app, f flow) (string, string) {
	en.t.Helper()
	if f.verifier == "" {
		f.verifier = oauth2.GenerateVerifier()
	}
	if f.scopes == nil {
		f.scopes = patientScopes
	}
	f.username, f.password = "alice", "alice password"
	return en.browser().authorize(a, f).Query().Get("code"), f.verifier
}

func TestCodeExchangeRefused(t *testing.T) {
	en := newEnv(t)
	a := en.newApp(ClientPublic, "")
	other := en.newApp(ClientPublic, "")
	if _, err := en.srv.Registry().CreateUser(t.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	exchange := func(clientID, code string, set func(url.Values)) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID}, "redirect_uri": {appRedirect}}
		set(form)
		status, _, body := en.post("/auth/token", form, "", "")
		return status, body
	}
	challengeAsVerifier := func() (string, string) {
		v := oauth2.GenerateVerifier()
		c, _ := en.code(a, flow{verifier: v})
		return c, S256Challenge(v)
	}
	tests := []struct {
		name string
		run  func() (int, map[string]any)
	}{
		{"missing verifier", func() (int, map[string]any) {
			c, _ := en.code(a, flow{})
			return exchange(a.client.ID, c, func(f url.Values) {})
		}},
		{"blank verifier", func() (int, map[string]any) {
			c, _ := en.code(a, flow{})
			return exchange(a.client.ID, c, func(f url.Values) { f.Set("code_verifier", "") })
		}},
		{"wrong verifier", func() (int, map[string]any) {
			c, _ := en.code(a, flow{})
			return exchange(a.client.ID, c, func(f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) })
		}},
		{"verifier equal to the challenge", func() (int, map[string]any) {
			c, ch := challengeAsVerifier()
			return exchange(a.client.ID, c, func(f url.Values) { f.Set("code_verifier", ch) })
		}},
		{"wrong redirect_uri", func() (int, map[string]any) {
			c, v := en.code(a, flow{})
			return exchange(a.client.ID, c, func(f url.Values) { f.Set("code_verifier", v); f.Set("redirect_uri", appRedirect+"x") })
		}},
		{"another client", func() (int, map[string]any) {
			c, v := en.code(a, flow{})
			return exchange(other.client.ID, c, func(f url.Values) { f.Set("code_verifier", v) })
		}},
		{"expired code", func() (int, map[string]any) {
			c, v := en.code(a, flow{})
			en.advance(2 * time.Minute)
			defer en.advance(-2 * time.Minute)
			return exchange(a.client.ID, c, func(f url.Values) { f.Set("code_verifier", v) })
		}},
		{"made-up code", func() (int, map[string]any) {
			return exchange(a.client.ID, "bm90IGEgY29kZQ", func(f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.run()
			if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Errorf("got %d %v, want 400 invalid_grant", status, body)
			}
		})
	}
	t.Run("unknown client", func(t *testing.T) {
		c, v := en.code(a, flow{})
		status, body := exchange("nobody", c, func(f url.Values) { f.Set("code_verifier", v) })
		if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("got %d %v", status, body)
		}
	})
	t.Run("a failed attempt leaves the code to its owner", func(t *testing.T) {
		c, v := en.code(a, flow{})
		exchange(other.client.ID, c, func(f url.Values) { f.Set("code_verifier", v) })
		if status, body := exchange(a.client.ID, c, func(f url.Values) { f.Set("code_verifier", v) }); status != 200 {
			t.Errorf("got %d %v", status, body)
		}
	})
}

func TestAuthorizeRequestRefused(t *testing.T) {
	en := newEnv(t)
	a := en.newApp(ClientPublic, "")
	b := en.browser()
	verifier := oauth2.GenerateVerifier()
	good := func() url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {a.client.ID}, "redirect_uri": {appRedirect}, "scope": {"launch/patient patient/*.rs"},
			"state": {"s"}, "aud": {en.srv.audience}, "code_challenge": {S256Challenge(verifier)}, "code_challenge_method": {"S256"}}
	}
	authURL := en.srv.Issuer() + "/authorize?"
	if p := b.get(authURL + good().Encode()); p.status != 200 {
		t.Fatalf("good request: %d", p.status)
	}
	// A client whose FHIR base ends in a slash sends aud with it (the SMART JS client does).
	slash := good()
	slash.Set("aud", en.srv.audience+"/")
	if p := b.get(authURL + slash.Encode()); p.status != 200 || p.location != "" {
		t.Fatalf("aud with a trailing slash: %d %q", p.status, p.location)
	}
	// Errors shown on a page, never redirected.
	for name, change := range map[string]func(url.Values){
		"unknown client":        func(v url.Values) { v.Set("client_id", "nobody") },
		"unregistered redirect": func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") },
		"redirect prefix":       func(v url.Values) { v.Set("redirect_uri", appRedirect+"/more") },
		"missing redirect":      func(v url.Values) { v.Del("redirect_uri") },
		"duplicate parameter":   func(v url.Values) { v.Add("state", "t") },
	} {
		t.Run(name, func(t *testing.T) {
			v := good()
			change(v)
			if p := b.get(authURL + v.Encode()); p.status != http.StatusBadRequest || p.location != "" {
				t.Errorf("got %d %q", p.status, p.location)
			}
		})
	}
	// Errors redirected to the app.
	for name, tc := range map[string]struct {
		change func(url.Values)
		code   string
	}{
		"plain PKCE":        {func(v url.Values) { v.Set("code_challenge_method", "plain"); v.Set("code_challenge", verifier) }, "invalid_request"},
		"no PKCE":           {func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request"},
		"no method":         {func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request"},
		"short challenge":   {func(v url.Values) { v.Set("code_challenge", "abc") }, "invalid_request"},
		"wrong aud":         {func(v url.Values) { v.Set("aud", "https://other.example/fhir") }, "invalid_request"},
		"aud, two slashes":  {func(v url.Values) { v.Set("aud", en.srv.audience+"//") }, "invalid_request"},
		"aud, other case":   {func(v url.Values) { v.Set("aud", strings.ToUpper(en.srv.audience)) }, "invalid_request"},
		"aud, a sub-path":   {func(v url.Values) { v.Set("aud", en.srv.audience+"/Patient") }, "invalid_request"},
		"no aud":            {func(v url.Values) { v.Del("aud") }, "invalid_request"},
		"no state":          {func(v url.Values) { v.Del("state") }, "invalid_request"},
		"token response":    {func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		"system scope only": {func(v url.Values) { v.Set("scope", "system/*.rs") }, "invalid_scope"},
		"malformed scope":   {func(v url.Values) { v.Set("scope", "patient/Observation.sr") }, "invalid_scope"},
	} {
		t.Run(name, func(t *testing.T) {
			v := good()
			tc.change(v)
			p := b.get(authURL + v.Encode())
			u, _ := url.Parse(p.location)
			if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, appRedirect) || u.Query().Get("error") != tc.code {
				t.Errorf("got %d %q, want a redirect with %s", p.status, p.location, tc.code)
			}
		})
	}
}

func TestAuthorizePages(t *testing.T) {
	en := newEnv(t)
	a := en.newApp(ClientConfidential, "")
	reg := en.srv.Registry()
	for _, u := range [][3]string{{"alice", "alice password", "Patient/p1"}, {"drsmith", "doctor password", "Practitioner/d1"}} {
		if _, err := reg.CreateUser(t.Context(), u[0], u[1], u[2]); err != nil {
			t.Fatal(err)
		}
	}
	en.putPatient("p1", `{"resourceType":"Patient","id":"p1","name":[{"family":"Smith","given":["Ann"]}],"managingOrganization":{"reference":"Organization/o1"}}`)
	en.putPatient("p2", `{"resourceType":"Patient","id":"p2","name":[{"family":"Jones","given":["Bob"]}],"managingOrganization":{"reference":"Organization/o1"}}`)
	// Another clinic's patient: drsmith (a PractitionerRole at o1 only) never sees her.
	en.putPatient("p3", `{"resourceType":"Patient","id":"p3","name":[{"family":"Jonas","given":["Cleo"]}],"managingOrganization":{"reference":"Organization/o2"}}`)
	en.staffAt("d1", "o1")

	t.Run("wrong password", func(t *testing.T) {
		b := en.browser()
		a.cfg.Scopes = patientScopes
		p := b.get(a.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", en.srv.audience)))
		login, _ := p.form("login")
		login.fields.Set("username", "alice")
		login.fields.Set("password", "nope nope")
		p = b.submit(login)
		if _, ok := p.form("login"); p.status != http.StatusUnauthorized || !ok || !strings.Contains(p.body, `role="alert"`) {
			t.Errorf("got %d %s", p.status, p.body)
		}
	})

	t.Run("practitioner picks a patient, confidential exchange", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		redirect := en.browser().authorize(a, flow{scopes: []string{"launch/patient", "openid", "fhirUser", "patient/*.rs", "user/Observation.rs"},
			username: "drsmith", password: "doctor password", patient: "p2", verifier: verifier})
		tok, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if tok.Extra("patient") != "p2" || tok.RefreshToken != "" {
			t.Errorf("token %v (no offline_access: no refresh token)", tok)
		}
	})

	t.Run("patient search on the picker", func(t *testing.T) {
		b := en.browser()
		a.cfg.Scopes = []string{"launch/patient", "patient/*.rs"}
		p := b.get(a.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", en.srv.audience)))
		login, _ := p.form("login")
		login.fields.Set("username", "drsmith")
		login.fields.Set("password", "doctor password")
		p = b.submit(login)
		search, ok := p.form("patient-search")
		if !ok || !strings.Contains(p.body, "Ann Smith") || !strings.Contains(p.body, "Bob Jones") || strings.Contains(p.body, "Cleo") {
			t.Fatalf("picker: %s", p.body)
		}
		search.fields.Set("q", "jon")
		p = b.submit(search)
		if !strings.Contains(p.body, "Bob Jones") || strings.Contains(p.body, "Ann Smith") || strings.Contains(p.body, "Cleo") {
			t.Errorf("search: %s", p.body)
		}
	})

	t.Run("granular category instead of the whole type", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		lab := "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
		redirect := en.browser().authorize(a, flow{scopes: patientScopes, username: "alice", password: "alice password",
			untick: []string{"patient/Observation.rs"}, tick: []string{lab}, verifier: verifier})
		tok, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Extra("scope").(string); !strings.Contains(got, lab) || strings.Contains(got, "patient/Observation.rs ") || strings.HasSuffix(got, "patient/Observation.rs") {
			t.Errorf("scope %q", got)
		}
	})

	t.Run("a patient cannot pick another patient", func(t *testing.T) {
		b := en.browser()
		a.cfg.Scopes = patientScopes
		p := b.get(a.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", en.srv.audience)))
		login, _ := p.form("login")
		login.fields.Set("username", "alice")
		login.fields.Set("password", "alice password")
		p = b.submit(login)
		consent, ok := p.form("consent")
		if !ok {
			t.Fatal(p.body)
		}
		consent.fields.Set("patient", "p2")
		consent.fields.Set("decision", "allow")
		p = b.submit(consent)
		u, _ := url.Parse(p.location)
		if u.Query().Get("error") != "access_denied" {
			t.Errorf("got %d %s", p.status, p.location)
		}
	})

	t.Run("deny", func(t *testing.T) {
		b := en.browser()
		a.cfg.Scopes = patientScopes
		p := b.get(a.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", en.srv.audience)))
		login, _ := p.form("login")
		login.fields.Set("username", "alice")
		login.fields.Set("password", "alice password")
		consent, _ := b.submit(login).form("consent")
		consent.fields.Set("decision", "deny")
		u, _ := url.Parse(b.submit(consent).location)
		if u.Query().Get("error") != "access_denied" || u.Query().Get("state") != "s" {
			t.Errorf("redirect %s", u)
		}
	})

	t.Run("forged session", func(t *testing.T) {
		b := en.browser()
		a.cfg.Scopes = patientScopes
		p := b.get(a.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", en.srv.audience)))
		login, _ := p.form("login")
		f := form{action: login.action, fields: url.Values{}}
		for k, v := range login.fields {
			f.fields[k] = v
		}
		f.fields.Set("step", "consent")
		f.fields.Set("decision", "allow")
		f.fields.Set("session", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
		if p := b.submit(f); p.status != http.StatusUnauthorized || p.location != "" {
			t.Errorf("got %d %q", p.status, p.location)
		}
	})
}

func TestRefreshTokens(t *testing.T) {
	en := newEnv(t)
	a := en.newApp(ClientPublic, "")
	other := en.newApp(ClientPublic, "")
	if _, err := en.srv.Registry().CreateUser(t.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	code, verifier := en.code(a, flow{})
	tok, err := a.cfg.Exchange(en.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(clientID, rt, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}
		if scope != "" {
			form.Set("scope", scope)
		}
		status, _, body := en.post("/auth/token", form, "", "")
		return status, body
	}
	if status, body := refresh(other.client.ID, tok.RefreshToken, ""); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("refresh by another client: %d %v", status, body)
	}
	if status, body := refresh(a.client.ID, tok.RefreshToken, "patient/*.cruds"); status != 400 || body["error"] != "invalid_scope" {
		t.Errorf("widening scope: %d %v", status, body)
	}
	// The token source of golang.org/x/oauth2 refreshes an expired token.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	next, err := a.cfg.TokenSource(en.ctx(), &expired).Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.Extra("patient") != "p1" {
		t.Errorf("refreshed %v", next)
	}
	status, body := refresh(a.client.ID, next.RefreshToken, "offline_access patient/Observation.rs")
	if status != 200 || body["scope"] != "offline_access patient/Observation.rs" || body["refresh_token"] == nil {
		t.Errorf("narrowing refresh: %d %v", status, body)
	}
	newest := body["refresh_token"].(string)
	// Presenting a rotated-out refresh token revokes the grant.
	if status, body := refresh(a.client.ID, tok.RefreshToken, ""); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("rotated-out token: %d %v", status, body)
	}
	if status, body := refresh(a.client.ID, newest, ""); status != 400 {
		t.Errorf("grant should be revoked after reuse: %d %v", status, body)
	}
	if status, _ := en.whoami(next.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("access token of a revoked grant: %d", status)
	}

	t.Run("revoking a refresh token", func(t *testing.T) {
		code, verifier := en.code(a, flow{})
		tok, err := a.cfg.Exchange(en.ctx(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if status, _, _ := en.post("/auth/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {a.client.ID}}, "", ""); status != 200 {
			t.Fatalf("revoke: %d", status)
		}
		if status, _ := refresh(a.client.ID, tok.RefreshToken, ""); status != 400 {
			t.Errorf("revoked refresh token: %d", status)
		}
		if status, _ := en.whoami(tok.AccessToken); status != http.StatusUnauthorized {
			t.Errorf("access token of a revoked grant: %d", status)
		}
	})
}

func TestAudienceMatches(t *testing.T) {
	const base = "https://portal.example/fhir"
	for aud, want := range map[string]bool{
		base: true, base + "/": true,
		base + "//": false, "https://portal.example/fhir/x": false, "https://PORTAL.example/fhir": false,
		"https://portal.example:443/fhir": false, "https://portal.example/fhir%2F": false, "https://portal.example/": false, "": false,
	} {
		if got := audienceMatches(aud, base); got != want {
			t.Errorf("audienceMatches(%q) = %v, want %v", aud, got, want)
		}
	}
	if !audienceMatches(base, base+"/") || audienceMatches("", "") {
		t.Error("a configured audience with a trailing slash, or an empty one")
	}
}

// TestRefreshWithoutClientID: a public client may refresh without client_id (the SMART JS
// client sends none): the refresh token names its client. Rotation and reuse detection are as
// with a client_id; a confidential client's token without authentication is invalid_client and
// stays usable by that client.
func TestRefreshWithoutClientID(t *testing.T) {
	en := newEnv(t)
	if _, err := en.srv.Registry().CreateUser(t.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	refresh := func(rt, user, pass string) (int, map[string]any) {
		t.Helper()
		status, _, body := en.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, user, pass)
		return status, body
	}
	exchange := func(a app) *oauth2.Token {
		t.Helper()
		code, verifier := en.code(a, flow{})
		tok, err := a.cfg.Exchange(en.ctx(), code, oauth2.VerifierOption(verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("exchange: %v %v", tok, err)
		}
		return tok
	}

	pub := en.newApp(ClientPublic, "")
	tok := exchange(pub)
	status, body := refresh(tok.RefreshToken, "", "")
	next, _ := body["refresh_token"].(string)
	if status != http.StatusOK || body["patient"] != "p1" || next == "" || next == tok.RefreshToken {
		t.Fatalf("public client without client_id: %d %v", status, body)
	}
	if status, _ := en.whoami(body["access_token"].(string)); status != http.StatusOK {
		t.Errorf("refreshed access token: %d", status)
	}
	// The rotated-out token presented again revokes the grant, as with a client_id.
	if status, body := refresh(tok.RefreshToken, "", ""); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("rotated-out token: %d %v", status, body)
	}
	if status, body := refresh(next, "", ""); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("the grant should be revoked after the reuse: %d %v", status, body)
	}
	if status, body := refresh("never-issued", "", ""); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("unknown token: %d %v", status, body)
	}

	conf := en.newApp(ClientConfidential, "")
	ctok := exchange(conf)
	for range 2 { // twice: the first refusal neither used up nor revoked the token
		if status, body := refresh(ctok.RefreshToken, "", ""); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("confidential client without authentication: %d %v", status, body)
		}
	}
	if status, body := refresh(ctok.RefreshToken, conf.client.ID, "wrong secret"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("confidential client, wrong secret: %d %v", status, body)
	}
	if status, body := refresh(ctok.RefreshToken, conf.client.ID, conf.cfg.ClientSecret); status != http.StatusOK || body["refresh_token"] == nil {
		t.Errorf("confidential client with its secret after the refusals: %d %v", status, body)
	}

	// A public client that was disabled refreshes nothing, with or without client_id.
	ptok := exchange(pub)
	if err := en.srv.Registry().DisableClient(t.Context(), pub.client.ID); err != nil {
		t.Fatal(err)
	}
	if status, body := refresh(ptok.RefreshToken, "", ""); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("disabled public client: %d %v", status, body)
	}
}
