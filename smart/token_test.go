package smart

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestBackendServicesOAuth2 drives the client_credentials grant with golang.org/x/oauth2,
// authenticating with private_key_jwt, then calls a protected route with the token.
func TestBackendServicesOAuth2(t *testing.T) {
	en := newEnv(t)
	for _, tc := range []struct {
		name  string
		byURL bool
		ec    bool
	}{{"RS384 registered JWKS", false, false}, {"ES384 registered JWKS", false, true}, {"RS384 JWKS URL", true, false}, {"ES384 JWKS URL", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := en.newBackend("system/Observation.rs system/Patient.rs", tc.byURL)
			cfg := clientcredentials.Config{
				ClientID: b.client.ID, TokenURL: en.srv.TokenURL(), AuthStyle: oauth2.AuthStyleInParams,
				Scopes: []string{"system/Observation.rs", "system/Encounter.rs", "openid"},
				EndpointParams: url.Values{
					"client_assertion_type": {jwtBearerAssertion},
					"client_assertion":      {en.assertion(b, tc.ec, nil)},
				},
			}
			ctx := context.WithValue(t.Context(), oauth2.HTTPClient, en.ts.Client())
			tok, err := cfg.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.After(time.Now().Add(5*time.Minute+time.Second)) {
				t.Errorf("token type %q expiry %v", tok.TokenType, tok.Expiry)
			}
			if got := tok.Extra("scope"); got != "system/Observation.rs" {
				t.Errorf("granted scope = %v, want only what was both asked and allowed", got)
			}
			resp, err := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)).Get(en.ts.URL + "/fhir/whoami")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("whoami: %d", resp.StatusCode)
			}
		})
	}
}

func TestTokenResponseHeaders(t *testing.T) {
	en := newEnv(t)
	b := en.newBackend("system/*.rs", false)
	status, h, body := en.backendToken(en.assertion(b, false, nil), "")
	if status != http.StatusOK {
		t.Fatalf("status %d %v", status, body)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
	if _, ok := body["expires_in"].(float64); !ok {
		t.Errorf("expires_in is not a number: %v", body["expires_in"])
	}
	if body["scope"] != "system/*.rs" || body["token_type"] != "Bearer" {
		t.Errorf("body %v", body)
	}
	// Errors carry the same headers.
	status, h, body = en.backendToken("not-a-jwt", "")
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" || h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" {
		t.Errorf("error response %d %v %v", status, h, body)
	}
}

func TestClientAssertionRefused(t *testing.T) {
	en := newEnv(t)
	b := en.newBackend("system/*.rs", false)
	byURL := en.newBackend("system/*.rs", true)
	other := en.newBackend("system/*.rs", false)
	hmacKey := []byte("0123456789abcdef0123456789abcdef")

	tests := []struct {
		name      string
		assertion func() string
		code      string
	}{
		{"wrong aud", func() string {
			return en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { c["aud"] = en.ts.URL + "/fhir" })
		}, "invalid_client"},
		{"exp too far", func() string {
			return en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { c["exp"] = en.now().Add(10 * time.Minute).Unix() })
		}, "invalid_client"},
		{"expired", func() string {
			return en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { c["exp"] = en.now().Add(-time.Minute).Unix() })
		}, "invalid_client"},
		{"no exp", func() string {
			return en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { delete(c, "exp") })
		}, "invalid_client"},
		{"exp as a string", func() string {
			return en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) {
				c["exp"] = strconv.FormatInt(en.now().Add(time.Minute).Unix(), 10)
			})
		}, "invalid_client"},
		{"iat as a string", func() string {
			return en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { c["iat"] = strconv.FormatInt(en.now().Unix(), 10) })
		}, "invalid_client"},
		{"a crit header", func() string {
			return en.assertion(b, false, func(_ jwt.MapClaims, h map[string]any) {
				h["crit"] = []string{"x-portico-unknown"}
				h["x-portico-unknown"] = 1
			})
		}, "invalid_client"},
		{"no jti", func() string {
			return en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { delete(c, "jti") })
		}, "invalid_client"},
		{"sub differs from iss", func() string {
			return en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { c["sub"] = other.client.ID })
		}, "invalid_client"},
		{"unknown client", func() string {
			return en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { c["iss"], c["sub"] = "nobody", "nobody" })
		}, "invalid_client"},
		{"signed by another client's key", func() string {
			// other holds the same test keys, so sign as b but claim to be a client with different keys:
			// use a fresh key instead.
			k, _ := testKeysFresh(t)
			tok := jwt.NewWithClaims(jwt.SigningMethodRS384, jwt.MapClaims{"iss": b.client.ID, "sub": b.client.ID,
				"aud": en.srv.TokenURL(), "exp": en.now().Add(time.Minute).Unix(), "jti": "x1"})
			tok.Header["kid"] = b.rsaKid
			s, _ := tok.SignedString(k)
			return s
		}, "invalid_client"},
		{"jku mismatch (registered JWKS)", func() string {
			return en.assertion(b, false, func(_ jwt.MapClaims, h map[string]any) { h["jku"] = "https://attacker.example/jwks" })
		}, "invalid_client"},
		{"jku mismatch (JWKS URL)", func() string {
			return en.assertion(byURL, false, func(_ jwt.MapClaims, h map[string]any) { h["jku"] = byURL.client.JWKSURL + "?x" })
		}, "invalid_client"},
		{"alg none", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": b.client.ID, "sub": b.client.ID,
				"aud": en.srv.TokenURL(), "exp": en.now().Add(time.Minute).Unix(), "jti": "n1"})
			s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}, "invalid_client"},
		{"HS256", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": b.client.ID, "sub": b.client.ID,
				"aud": en.srv.TokenURL(), "exp": en.now().Add(time.Minute).Unix(), "jti": "h1"})
			s, _ := tok.SignedString(hmacKey)
			return s
		}, "invalid_client"},
		{"RS256 not allowed", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": b.client.ID, "sub": b.client.ID,
				"aud": en.srv.TokenURL(), "exp": en.now().Add(time.Minute).Unix(), "jti": "r1"})
			tok.Header["kid"] = b.rsaKid
			s, _ := tok.SignedString(b.rsa)
			return s
		}, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := en.backendToken(tt.assertion(), "")
			if status != http.StatusUnauthorized || body["error"] != tt.code {
				t.Errorf("got %d %v, want 401 %s", status, body, tt.code)
			}
		})
	}

	t.Run("jku equal to the registered URL is accepted", func(t *testing.T) {
		a := en.assertion(byURL, true, func(_ jwt.MapClaims, h map[string]any) { h["jku"] = byURL.client.JWKSURL })
		if status, _, body := en.backendToken(a, ""); status != http.StatusOK {
			t.Errorf("got %d %v", status, body)
		}
	})
	t.Run("disabled client", func(t *testing.T) {
		d := en.newBackend("system/*.rs", false)
		if err := en.srv.Registry().DisableClient(t.Context(), d.client.ID); err != nil {
			t.Fatal(err)
		}
		if status, _, body := en.backendToken(en.assertion(d, false, nil), ""); status != http.StatusUnauthorized {
			t.Errorf("got %d %v", status, body)
		}
	})
}

func testKeysFresh(t *testing.T) (any, error) {
	t.Helper()
	k, err := newSigningKey()
	return k.key, err
}

// TestJTIReplay: an assertion works once, also across a restart on the same data directory.
func TestJTIReplay(t *testing.T) {
	dir := t.TempDir()
	en := newEnvDir(t, dir)
	b := en.newBackend("system/*.rs", false)
	a := en.assertion(b, false, nil)
	if status, _, body := en.backendToken(a, ""); status != http.StatusOK {
		t.Fatalf("first use: %d %v", status, body)
	}
	if status, _, body := en.backendToken(a, ""); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("replay: %d %v", status, body)
	}
	en.ts.Close()
	if err := en.st.Close(); err != nil {
		t.Fatal(err)
	}
	en2 := newEnvDir(t, dir)
	// The restarted server has a new URL, so the assertion's aud no longer matches; re-sign the
	// same jti for the new token URL to test the replay record alone.
	var jti string
	parsed, _, _ := jwt.NewParser().ParseUnverified(a, jwt.MapClaims{})
	jti, _ = parsed.Claims.(jwt.MapClaims)["jti"].(string)
	a2 := en2.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { c["jti"] = jti })
	if status, _, body := en2.backendToken(a2, ""); status != http.StatusUnauthorized {
		t.Errorf("replay after restart: %d %v", status, body)
	}
}

func TestClientCredentialsScopes(t *testing.T) {
	en := newEnv(t)
	b := en.newBackend("system/Observation.rs system/Patient.r", false)
	tests := []struct {
		name, scope string
		status      int
		want        string // scope granted, or error code
	}{
		{"all registered when none asked", "", 200, "system/Observation.rs system/Patient.r"},
		{"subset", "system/Patient.r", 200, "system/Patient.r"},
		{"narrowed", "system/*.rs", 200, "system/Observation.rs system/Patient.r"},
		{"unknown scopes ignored", "system/Observation.rs email", 200, "system/Observation.rs"},
		{"v1 narrowed to what is allowed", "system/Observation.read", 200, "system/Observation.read"},
		{"nothing grantable", "system/Encounter.rs", 400, "invalid_scope"},
		{"patient scope to backend", "patient/Observation.rs", 400, "invalid_scope"},
		{"malformed", "system/Observation.sr", 400, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := en.backendToken(en.assertion(b, false, nil), tt.scope)
			got := body["scope"]
			if status != 200 {
				got = body["error"]
			}
			if status != tt.status || got != tt.want {
				t.Errorf("got %d %v, want %d %s", status, body, tt.status, tt.want)
			}
		})
	}
}

func TestClientSecretBasic(t *testing.T) {
	en := newEnv(t)
	c, secret, err := en.srv.Registry().CreateClient(t.Context(), Client{Name: "portal", Type: ClientConfidential,
		RedirectURIs: []string{"https://app.example/cb"}, Scope: "system/Patient.rs patient/*.rs openid"})
	if err != nil || secret == "" {
		t.Fatal(secret, err)
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, en.ts.Client())
	cfg := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: en.srv.TokenURL(), AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "system/Patient.rs" {
		t.Errorf("scope %v", tok.Extra("scope"))
	}

	for name, cfg := range map[string]clientcredentials.Config{
		"wrong secret":   {ClientID: c.ID, ClientSecret: secret + "x", TokenURL: en.srv.TokenURL(), AuthStyle: oauth2.AuthStyleInHeader},
		"unknown client": {ClientID: "nobody", ClientSecret: secret, TokenURL: en.srv.TokenURL(), AuthStyle: oauth2.AuthStyleInHeader},
		"secret in body": {ClientID: c.ID, ClientSecret: secret, TokenURL: en.srv.TokenURL(), AuthStyle: oauth2.AuthStyleInParams},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cfg.Token(ctx)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v", err)
			}
			want := "invalid_client"
			if name == "secret in body" {
				want = "invalid_request"
			}
			if re.ErrorCode != want {
				t.Errorf("error %q (%d), want %q", re.ErrorCode, re.Response.StatusCode, want)
			}
		})
	}

	t.Run("rotated secret", func(t *testing.T) {
		newSecret, err := en.srv.Registry().RotateSecret(t.Context(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Token(ctx); err == nil {
			t.Error("old secret still works")
		}
		cfg.ClientSecret = newSecret
		if _, err := cfg.Token(ctx); err != nil {
			t.Error(err)
		}
	})
}

func TestTokenRequestErrors(t *testing.T) {
	en := newEnv(t)
	tests := []struct {
		name string
		form url.Values
		code string
	}{
		{"no grant_type", url.Values{}, "invalid_request"},
		{"unknown grant", url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
		{"no client", url.Values{"grant_type": {"client_credentials"}}, "invalid_client"},
		{"wrong assertion type", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"x"}, "client_assertion": {"y"}}, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, body := en.post("/auth/token", tt.form, "", "")
			if body["error"] != tt.code {
				t.Errorf("got %v, want %s", body, tt.code)
			}
		})
	}
	t.Run("public client cannot use client_credentials", func(t *testing.T) {
		c, _, err := en.srv.Registry().CreateClient(t.Context(), Client{Name: "spa", Type: ClientPublic, RedirectURIs: []string{"https://spa.example/"}})
		if err != nil {
			t.Fatal(err)
		}
		_, _, body := en.post("/auth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}}, "", "")
		if body["error"] != "unauthorized_client" {
			t.Errorf("got %v", body)
		}
	})
}

// TestAssertionIssuedAt: a client assertion issued in the future (beyond the clock skew), or
// living longer than five minutes from its iat, is refused; one within both limits passes.
func TestAssertionIssuedAt(t *testing.T) {
	en := newEnv(t)
	b := en.newBackend("system/*.rs", false)
	now := en.now()
	for _, c := range []struct {
		name     string
		iat, exp time.Duration // from now
		want     int
	}{
		{"iat a year ahead", 365 * 24 * time.Hour, 4 * time.Minute, http.StatusUnauthorized},
		{"iat a minute ahead", time.Minute, 4 * time.Minute, http.StatusUnauthorized},
		{"lifetime of 14 minutes", -10 * time.Minute, 4 * time.Minute, http.StatusUnauthorized},
		{"lifetime of 5 minutes", -time.Minute, 4 * time.Minute, http.StatusOK},
		{"iat within the clock skew", 5 * time.Second, 4 * time.Minute, http.StatusOK},
	} {
		a := en.assertion(b, false, func(claims jwt.MapClaims, _ map[string]any) {
			claims["iat"] = now.Add(c.iat).Unix()
			claims["exp"] = now.Add(c.exp).Unix()
		})
		status, _, body := en.backendToken(a, "")
		if status != c.want || c.want != http.StatusOK && body["error"] != "invalid_client" {
			t.Errorf("%s: %d %v, want %d", c.name, status, body, c.want)
		}
	}
}
