package smart

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestSignInSessions: a sign-in session decides once, for the authorization request it was
// made for: replaying the consent form, or carrying the session to another redirect URI,
// state or PKCE challenge of the same app, is refused without a redirect; the sign-in and
// consent forms posted from another site are refused before anything is checked.
func TestSignInSessions(t *testing.T) {
	en := newEnv(t)
	c, _, err := en.srv.Registry().CreateClient(t.Context(), Client{Name: "Two-door app", Type: ClientPublic,
		RedirectURIs: []string{appRedirect, "https://app.example/other"}})
	if err != nil {
		t.Fatal(err)
	}
	a := app{client: c, cfg: oauth2.Config{ClientID: c.ID, RedirectURL: appRedirect, Scopes: patientScopes,
		Endpoint: oauth2.Endpoint{AuthURL: en.srv.Issuer() + "/authorize", TokenURL: en.srv.TokenURL()}}}
	if _, err := en.srv.Registry().CreateUser(t.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	b := en.browser()
	start := func() form {
		t.Helper()
		p := b.get(a.cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", en.srv.audience)))
		login, ok := p.form("login")
		if !ok {
			t.Fatalf("login page: %d", p.status)
		}
		return withCreds(login, "alice", "alice password")
	}
	consentForm := func() form {
		t.Helper()
		p := b.submit(start())
		consent, ok := p.form("consent")
		if !ok {
			t.Fatalf("consent page: %d %s", p.status, p.body)
		}
		consent.fields.Set("decision", "allow")
		return consent
	}

	consent := consentForm()
	if p := b.submit(consent); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, appRedirect+"?code=") {
		t.Fatalf("first decision: %d %s", p.status, p.location)
	}
	if p := b.submit(consent); p.status != http.StatusUnauthorized || p.location != "" {
		t.Errorf("replayed consent: %d %q, want 401 and no redirect", p.status, p.location)
	}

	for name, change := range map[string]func(f form){
		"another redirect URI": func(f form) { f.fields.Set("redirect_uri", "https://app.example/other") },
		"another state":        func(f form) { f.fields.Set("state", "other") },
		"another challenge": func(f form) {
			f.fields.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
		},
		"another scope": func(f form) { f.fields.Set("scope", "launch/patient patient/*.rs") },
	} {
		f := consentForm()
		f.fields = url2(f.fields)
		change(f)
		if p := b.submit(f); p.status != http.StatusUnauthorized || p.location != "" {
			t.Errorf("%s: %d %q, want 401 and no redirect", name, p.status, p.location)
		}
	}

	post := func(f form, header ...string) page {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.action, strings.NewReader(f.fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return b.do(req)
	}
	for name, h := range map[string][]string{
		"Origin of another site":                    {"Origin", "https://evil.example"},
		"Origin null":                               {"Origin", "null"},
		"Sec-Fetch-Site cross-site":                 {"Sec-Fetch-Site", "cross-site"},
		"Sec-Fetch-Site same-site":                  {"Sec-Fetch-Site", "same-site", "Origin", en.srv.origin},
		"Origin of another site, no Sec-Fetch-Site": {"Origin", "https://evil.example:443"},
	} {
		if p := post(start(), h...); p.status != http.StatusForbidden {
			t.Errorf("sign-in with %s: %d, want 403", name, p.status)
		}
		f := consentForm()
		if p := post(f, h...); p.status != http.StatusForbidden || p.location != "" {
			t.Errorf("consent with %s: %d %q, want 403", name, p.status, p.location)
		}
	}
	for _, h := range [][]string{{"Origin", en.srv.origin, "Sec-Fetch-Site", "same-origin"}, {"Origin", en.srv.origin},
		{"Origin", "null", "Sec-Fetch-Site", "same-origin"}} {
		if p := post(start(), h...); p.status != http.StatusOK {
			t.Errorf("sign-in from our own page %v: %d", h, p.status)
		}
	}
}
