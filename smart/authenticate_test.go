package smart

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// backendAccessToken gets a real access token for a new backend client.
func (en *env) backendAccessToken(scope string) (string, backend) {
	en.t.Helper()
	b := en.newBackend(scope, false)
	status, _, body := en.backendToken(en.assertion(b, false, nil), "")
	if status != http.StatusOK {
		en.t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string), b
}

// forge signs access-token claims with Portico's own current key after change adjusts them.
func (en *env) forge(b backend, change func(c jwt.MapClaims, h map[string]any)) string {
	en.t.Helper()
	now := en.now()
	claims := jwt.MapClaims{"iss": en.srv.Issuer(), "aud": en.srv.audience, "sub": b.client.ID, "client_id": b.client.ID,
		"scope": "system/*.rs", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": uuid.NewString()}
	key := en.srv.keys.current(en.t.Context())
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"], tok.Header["typ"] = key.kid, accessTokenTyp
	if change != nil {
		change(claims, tok.Header)
	}
	s, err := tok.SignedString(key.key)
	if err != nil {
		en.t.Fatal(err)
	}
	return s
}

func TestAuthenticate(t *testing.T) {
	en := newEnv(t)
	good, b := en.backendAccessToken("system/*.rs")
	if status, _ := en.whoami(good); status != http.StatusOK {
		t.Fatalf("valid token: %d", status)
	}
	if status, _ := en.whoami(en.forge(b, nil)); status != http.StatusOK {
		t.Fatalf("forge helper makes valid tokens: %d", status)
	}

	key := en.srv.keys.current(t.Context())
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	tests := []struct {
		name  string
		token func() string
	}{
		{"alg none", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": en.srv.Issuer(), "aud": en.srv.audience,
				"client_id": b.client.ID, "scope": "system/*.rs", "exp": time.Now().Add(time.Minute).Unix(), "jti": "n"})
			tok.Header["kid"], tok.Header["typ"] = key.kid, accessTokenTyp
			s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}},
		{"HS256 with the public key as secret", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": en.srv.Issuer(), "aud": en.srv.audience,
				"client_id": b.client.ID, "scope": "system/*.rs", "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "jti": "h"})
			tok.Header["kid"], tok.Header["typ"] = key.kid, accessTokenTyp
			s, _ := tok.SignedString(pubPEM)
			return s
		}},
		{"wrong issuer", func() string {
			return en.forge(b, func(c jwt.MapClaims, _ map[string]any) { c["iss"] = "https://evil.example/auth" })
		}},
		{"wrong audience", func() string {
			return en.forge(b, func(c jwt.MapClaims, _ map[string]any) { c["aud"] = "https://other.example/fhir" })
		}},
		{"expired", func() string {
			return en.forge(b, func(c jwt.MapClaims, _ map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })
		}},
		{"no exp", func() string { return en.forge(b, func(c jwt.MapClaims, _ map[string]any) { delete(c, "exp") }) }},
		{"issued in the future", func() string {
			return en.forge(b, func(c jwt.MapClaims, _ map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() })
		}},
		{"unknown kid", func() string { return en.forge(b, func(_ jwt.MapClaims, h map[string]any) { h["kid"] = "nope" }) }},
		{"not an access token (typ)", func() string { return en.forge(b, func(_ jwt.MapClaims, h map[string]any) { h["typ"] = "JWT" }) }},
		{"unknown client", func() string {
			return en.forge(b, func(c jwt.MapClaims, _ map[string]any) { c["client_id"] = "nobody" })
		}},
		{"tampered payload", func() string {
			parts := strings.Split(good, ".")
			var claims map[string]any
			raw, _ := b64url.DecodeString(parts[1])
			_ = json.Unmarshal(raw, &claims)
			claims["scope"] = "system/*.cruds"
			raw, _ = json.Marshal(claims)
			return parts[0] + "." + b64url.EncodeToString(raw) + "." + parts[2]
		}},
		{"garbage", func() string { return "abc.def.ghi" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h := en.whoami(tt.token())
			if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("got %d %q, want 401 invalid_token", status, h.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("no token", func(t *testing.T) {
		status, h := en.whoami("")
		if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || strings.Contains(h.Get("WWW-Authenticate"), "error=") {
			t.Errorf("got %d %q", status, h.Get("WWW-Authenticate"))
		}
	})
	t.Run("expired by the clock", func(t *testing.T) {
		tok, _ := en.backendAccessToken("system/*.rs")
		en.advance(6 * time.Minute)
		defer en.advance(-6 * time.Minute)
		if status, _ := en.whoami(tok); status != http.StatusUnauthorized {
			t.Errorf("got %d", status)
		}
	})
	t.Run("client disabled after issue", func(t *testing.T) {
		tok, b2 := en.backendAccessToken("system/*.rs")
		if err := en.srv.Registry().DisableClient(t.Context(), b2.client.ID); err != nil {
			t.Fatal(err)
		}
		if status, _ := en.whoami(tok); status != http.StatusUnauthorized {
			t.Errorf("got %d", status)
		}
	})
}

func TestRevocationAndIntrospection(t *testing.T) {
	en := newEnv(t)
	tok, b := en.backendAccessToken("system/*.rs")
	caller := en.assertion // introspection caller authenticates with a fresh assertion each time
	introspect := func(token string) (int, string) {
		form := url.Values{"token": {token}, "client_assertion_type": {jwtBearerAssertion}, "client_assertion": {caller(b, false, nil)}}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, en.ts.URL+"/auth/introspect", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := en.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}

	status, body := introspect(tok)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); status != 200 || err != nil || m["active"] != true || m["scope"] != "system/*.rs" || m["client_id"] != b.client.ID {
		t.Fatalf("active token: %d %s", status, body)
	}
	for _, bad := range []string{"", "garbage", en.forge(b, func(c jwt.MapClaims, _ map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })} {
		if status, body := introspect(bad); status != 200 || body != `{"active":false}` {
			t.Errorf("bad token %.20q: %d %s", bad, status, body)
		}
	}
	t.Run("unauthenticated introspection", func(t *testing.T) {
		status, _, body := en.post("/auth/introspect", url.Values{"token": {tok}}, "", "")
		if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("got %d %v", status, body)
		}
	})
	t.Run("introspection with a bearer token", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, en.ts.URL+"/auth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := en.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("got %d", resp.StatusCode)
		}
	})

	t.Run("another client cannot revoke, nor tell a live token from garbage", func(t *testing.T) {
		other := en.newBackend("system/*.rs", false)
		for _, token := range []string{tok, "garbage"} {
			status, _, body := en.post("/auth/revoke", url.Values{"token": {token}, "client_assertion_type": {jwtBearerAssertion},
				"client_assertion": {en.assertion(other, false, nil)}}, "", "")
			if status != http.StatusOK {
				t.Errorf("%d %v, want 200 as for any token", status, body)
			}
		}
		if status, _ := en.whoami(tok); status != http.StatusOK {
			t.Errorf("another client revoked the token: %d", status)
		}
	})
	revoke := func(token string) int {
		status, _, _ := en.post("/auth/revoke", url.Values{"token": {token}, "client_assertion_type": {jwtBearerAssertion},
			"client_assertion": {en.assertion(b, false, nil)}}, "", "")
		return status
	}
	if status := revoke(tok); status != http.StatusOK {
		t.Fatalf("revoke: %d", status)
	}
	if status, _ := en.whoami(tok); status != http.StatusUnauthorized {
		t.Errorf("revoked token still works: %d", status)
	}
	if status, body := introspect(tok); body != `{"active":false}` {
		t.Errorf("revoked token introspects as %d %s", status, body)
	}
	if status := revoke(tok); status != http.StatusOK {
		t.Errorf("second revoke: %d", status)
	}
	if status := revoke("garbage"); status != http.StatusOK {
		t.Errorf("revoke garbage: %d", status)
	}
}
