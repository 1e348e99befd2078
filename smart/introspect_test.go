package smart

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestIntrospectionCallers: a token is described only to its own client and to registered
// resource servers; any other client, with its credentials or with a bearer token of its own,
// gets exactly {"active":false}, so it cannot read another user's patient, fhirUser or sub.
func TestIntrospectionCallers(t *testing.T) {
	en := newEnv(t)
	a := en.newApp(ClientConfidential, "")
	if _, err := en.srv.Registry().CreateUser(t.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	redirect := en.browser().authorize(a, flow{scopes: patientScopes, username: "alice", password: "alice password", verifier: verifier})
	tok, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := en.srv.Registry().CreateUser(t.Context(), "bob", "bob password", "Patient/p2"); err != nil {
		t.Fatal(err)
	}
	verifier = oauth2.GenerateVerifier()
	redirect = en.browser().authorize(a, flow{scopes: patientScopes, username: "bob", password: "bob password", verifier: verifier})
	bobs, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	other := en.newApp(ClientConfidential, "")
	otherBackend, _ := en.backendAccessToken("system/*.rs")
	rs, rsSecret, err := en.srv.Registry().CreateClient(t.Context(), Client{Name: "Imaging API", Type: ClientResourceServer})
	if err != nil || rsSecret == "" {
		t.Fatalf("resource server: %v %q", err, rsSecret)
	}

	// introspect returns the raw answer; basic is "id:secret", bearer a token.
	introspect := func(basic, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, en.ts.URL+"/auth/introspect",
			strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if id, secret, ok := strings.Cut(basic, ":"); ok {
			req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := en.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	described := func(who string, status int, body string) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); status != 200 || err != nil || m["active"] != true ||
			m["patient"] != "p1" || m["fhirUser"] != "Patient/p1" || m["client_id"] != a.client.ID {
			t.Errorf("%s: %d %s, want the token described", who, status, body)
		}
	}
	refused := func(who string, status int, body string) {
		t.Helper()
		if status != 200 || body != `{"active":false}` {
			t.Errorf("%s: %d %s, want exactly {\"active\":false}", who, status, body)
		}
	}

	status, body := introspect(a.client.ID+":"+a.cfg.ClientSecret, "")
	described("the token's own client", status, body)
	status, body = introspect(rs.ID+":"+rsSecret, "")
	described("a resource server", status, body)
	status, body = introspect("", tok.AccessToken)
	described("a bearer token of the same client", status, body)
	status, body = introspect("", bobs.AccessToken)
	refused("a bearer token of another user of the same client", status, body)
	status, body = introspect(other.client.ID+":"+other.cfg.ClientSecret, "")
	refused("another confidential client", status, body)
	status, body = introspect("", otherBackend)
	refused("a bearer token of another client", status, body)
	if status, body = introspect("", ""); status != http.StatusUnauthorized {
		t.Errorf("no credentials: %d %s", status, body)
	}

	t.Run("a resource server gets no tokens", func(t *testing.T) {
		status, _, body := en.post("/auth/token", url.Values{"grant_type": {"client_credentials"}}, rs.ID, rsSecret)
		if status != http.StatusBadRequest || body["error"] != "unauthorized_client" {
			t.Errorf("client_credentials: %d %v", status, body)
		}
		for _, c := range []Client{
			{Name: "x", Type: ClientResourceServer, RedirectURIs: []string{appRedirect}},
			{Name: "x", Type: ClientResourceServer, Scope: "system/*.rs"},
		} {
			if _, _, err := en.srv.Registry().CreateClient(t.Context(), c); err == nil {
				t.Errorf("registered %+v", c)
			}
		}
	})
}
