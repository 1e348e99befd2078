package smart

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portico-health/portico/store"
)

// TestRedirectURIs: registration accepts https, http on loopback and reverse-domain private
// schemes only, with an error that says what is allowed; a registration stored before the
// rule with a javascript: URI is never redirected to.
func TestRedirectURIs(t *testing.T) {
	en := newEnv(t)
	for _, u := range []string{"https://app.example/cb", "https://app.example:8443/cb?x=1", "http://127.0.0.1:5000/cb",
		"http://[::1]/cb", "http://localhost:3000/", "com.example.app:/oauth2redirect", "org.example.portal://cb"} {
		if _, _, err := en.srv.Registry().CreateClient(t.Context(), Client{Name: "x", Type: ClientPublic, RedirectURIs: []string{u}}); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	for _, u := range []string{"javascript:alert(1)", "JavaScript:alert(document.cookie)", "data:text/html,<script>x</script>",
		"file:///etc/passwd", "vbscript:x", "myapp:/cb", "http://app.example/cb", "https://app.example/cb#frag",
		"https:///cb", "https://user@app.example/cb", "/relative", "https://app.example/c b", "blob:https://app.example/x"} {
		_, _, err := en.srv.Registry().CreateClient(t.Context(), Client{Name: "x", Type: ClientPublic, RedirectURIs: []string{u}})
		if err == nil || !strings.Contains(err.Error(), "reverse-domain") {
			t.Errorf("%s: %v, want refused with the rule", u, err)
		}
	}

	// A client stored before the rule.
	legacy := Client{ID: "legacy", Name: "Old app", Type: ClientPublic, RedirectURIs: []string{"javascript:alert(1)"},
		Scope: defaultScope(ClientPublic), Created: time.Now().UTC()}
	body, _ := json.Marshal(legacy)
	if err := en.st.Write(t.Context(), store.Write{Op: store.OpCreate, Type: TypeClient, ID: legacy.ID, Version: 1,
		LastUpdated: time.Now().UTC(), Body: body}); err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: legacy.ID, RedirectURL: legacy.RedirectURIs[0], Scopes: patientScopes,
		Endpoint: oauth2.Endpoint{AuthURL: en.srv.Issuer() + "/authorize"}}
	// An error (here: no state) would be redirected to the app; for this app it must not be.
	u := strings.Replace(cfg.AuthCodeURL("x", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "state=x", "state=", 1)
	if p := en.browser().get(u); p.status != http.StatusBadRequest || p.location != "" {
		t.Errorf("legacy javascript: redirect: %d %q, want an error page", p.status, p.location)
	}
}
