package smart

import (
	"github.com/portico-health/portico/policy"
	"net/http"
	"testing"
	"time"
)

// TestTokenCacheRechecks: a verified token is trusted from memory for at most tokenRecheck. A
// client disabled by another process (here the registry of a second Server on the same store,
// as `portico admin app disable` does) stops its tokens once that time has passed.
func TestTokenCacheRechecks(t *testing.T) {
	en := newEnv(t)
	b := en.newBackend("system/*.rs", false)
	status, _, body := en.backendToken(en.assertion(b, false, nil), "system/Patient.rs")
	tok, _ := body["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("token: %d %v", status, body)
	}
	if status, _ := en.whoami(tok); status != http.StatusOK {
		t.Fatalf("fresh token: %d", status)
	}

	other, err := New(Config{Store: en.st, BaseURL: en.ts.URL + "/fhir", Now: en.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Registry().DisableClient(t.Context(), b.client.ID); err != nil {
		t.Fatal(err)
	}
	if status, _ := en.whoami(tok); status != http.StatusOK {
		t.Errorf("within %v of its check the token should still be trusted from memory: %d", tokenRecheck, status)
	}
	en.advance(tokenRecheck)
	if status, _ := en.whoami(tok); status != http.StatusUnauthorized {
		t.Errorf("token of a disabled client accepted after the recheck interval: %d", status)
	}
}

// TestTokenCacheKeys: the cache is keyed by token, expires entries and empties on reset.
func TestTokenCacheKeys(t *testing.T) {
	var c tokenCache
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	p := policy.Principal{ClientID: "a", ExpiresAt: now.Add(tokenRecheck * 10)}
	c.put("tok-a", p, now)
	if got, ok := c.get("tok-a", now.Add(tokenRecheck/2)); !ok || got.ClientID != "a" {
		t.Errorf("cached token not found: %v %v", got, ok)
	}
	if _, ok := c.get("tok-b", now); ok {
		t.Error("another token found")
	}
	if _, ok := c.get("tok-a", now.Add(tokenRecheck)); ok {
		t.Error("entry trusted past the recheck interval")
	}
	short := policy.Principal{ClientID: "s", ExpiresAt: now.Add(tokenRecheck / 4)}
	c.put("tok-s", short, now)
	if _, ok := c.get("tok-s", now.Add(tokenRecheck/2)); ok {
		t.Error("expired token served from the cache")
	}
	c.reset()
	if _, ok := c.get("tok-a", now); ok {
		t.Error("entry survived reset")
	}
}
