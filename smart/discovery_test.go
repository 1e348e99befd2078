package smart

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

func (en *env) get(path string, header map[string]string) (*http.Response, map[string]any) {
	en.t.Helper()
	req, _ := http.NewRequestWithContext(en.t.Context(), http.MethodGet, en.ts.URL+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := en.ts.Client().Do(req)
	if err != nil {
		en.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

func TestSMARTConfiguration(t *testing.T) {
	en := newEnv(t)
	resp, doc := en.get("/fhir/.well-known/smart-configuration", map[string]string{"Accept": "text/html", "Origin": "https://app.example"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	for _, f := range []string{"issuer", "jwks_uri", "authorization_endpoint", "token_endpoint", "introspection_endpoint", "revocation_endpoint"} {
		s, _ := doc[f].(string)
		if !strings.HasPrefix(s, en.ts.URL+"/auth") {
			t.Errorf("%s = %q, want an absolute URL under %s/auth", f, s, en.ts.URL)
		}
	}
	list := func(f string) []string {
		var out []string
		for _, v := range doc[f].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported = %v", got)
	}
	for _, g := range []string{"authorization_code", "client_credentials", "refresh_token"} {
		if !slices.Contains(list("grant_types_supported"), g) {
			t.Errorf("grant_types_supported lacks %s", g)
		}
	}
	if got := list("token_endpoint_auth_signing_alg_values_supported"); !slices.Equal(got, []string{"RS384", "ES384"}) {
		t.Errorf("signing algs %v", got)
	}
	for _, c := range []string{"launch-ehr", "launch-standalone", "authorize-post", "client-public", "client-confidential-symmetric",
		"client-confidential-asymmetric", "sso-openid-connect", "context-banner", "context-style", "context-ehr-patient",
		"context-ehr-encounter", "context-standalone-patient", "permission-offline", "permission-patient", "permission-user",
		"permission-v1", "permission-v2"} {
		if !slices.Contains(list("capabilities"), c) {
			t.Errorf("capabilities lacks %s", c)
		}
	}
	for _, f := range []string{"scopes_supported", "response_types_supported", "token_endpoint_auth_methods_supported"} {
		if len(list(f)) == 0 {
			t.Errorf("%s empty", f)
		}
	}

	// CORS (any origin) is the server's: server.TestCORSPublicEndpoints.
}

func TestOpenIDConfigurationAndJWKS(t *testing.T) {
	en := newEnv(t)
	resp, doc := en.get("/auth/.well-known/openid-configuration", nil)
	if resp.StatusCode != 200 || doc["issuer"] != en.srv.Issuer() || doc["jwks_uri"] != en.srv.Issuer()+"/jwks" {
		t.Fatalf("%d %v", resp.StatusCode, doc)
	}
	resp, set := en.get("/auth/jwks", nil)
	keys, _ := set["keys"].([]any)
	if resp.StatusCode != 200 || len(keys) != 1 {
		t.Fatalf("%d %v", resp.StatusCode, set)
	}
	k := keys[0].(map[string]any)
	jwk := JWK{Kty: k["kty"].(string), N: k["n"].(string), E: k["e"].(string)}
	if k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] != Thumbprint(jwk) || k["d"] != nil {
		t.Errorf("key %v", k)
	}
}

// TestKeyRotation: after a rotation the new key signs and the previous ones still verify
// (rotating twice in a row breaks no token), until the sweeper destroys them the longest token
// lifetime later.
func TestKeyRotation(t *testing.T) {
	en := newEnv(t)
	before, _ := en.backendAccessToken("system/*.rs")
	oldKid := en.srv.keys.current(t.Context()).kid

	newKid, err := RotateKeys(t.Context(), en.st)
	if err != nil {
		t.Fatal(err)
	}
	if err := en.srv.keys.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := en.srv.keys.current(t.Context()).kid; got != newKid || got == oldKid {
		t.Errorf("current kid %s, want %s", got, newKid)
	}
	if set := en.srv.keys.JWKS(t.Context()); len(set.Keys) != 2 || set.Keys[0].Kid != newKid || set.Keys[1].Kid != oldKid {
		t.Errorf("jwks %v", set)
	}
	if status, _ := en.whoami(before); status != http.StatusOK {
		t.Errorf("token of the previous key: %d", status)
	}
	after, _ := en.backendAccessToken("system/*.rs")
	if status, _ := en.whoami(after); status != http.StatusOK {
		t.Errorf("token of the new key: %d", status)
	}

	if _, err := RotateKeys(t.Context(), en.st); err != nil {
		t.Fatal(err)
	}
	if err := en.srv.keys.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if status, _ := en.whoami(before); status != http.StatusOK {
		t.Errorf("token of a key retired twice, within the grace period: %d", status)
	}
	if status, _ := en.whoami(after); status != http.StatusOK {
		t.Errorf("token of the previous key: %d", status)
	}
	en.advance(en.srv.keyGrace())
	if n, err := en.srv.Sweep(t.Context()); err != nil || n < 2 { // with the expired assertion records
		t.Fatalf("sweep: %d %v, want the two retired keys destroyed", n, err)
	}
	for _, tok := range []string{before, after} {
		if status, _ := en.whoami(tok); status != http.StatusUnauthorized {
			t.Errorf("token of a destroyed key: %d", status)
		}
	}
	if set := en.srv.keys.JWKS(t.Context()); len(set.Keys) != 1 {
		t.Errorf("jwks after the sweep %v", set)
	}
}

// TestKeysPersist: a restarted server on the same store signs with the same key.
func TestKeysPersist(t *testing.T) {
	en := newEnv(t)
	s2, err := New(Config{Store: en.st, BaseURL: en.srv.audience})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := en.srv.keys.current(t.Context()).kid, s2.keys.current(t.Context()).kid; a != b {
		t.Errorf("kid %s then %s", a, b)
	}
}

// TestKeysMigrate: the keys of the old single record (PorticoSigningKeys/default, every version
// of which held private keys) move to records of their own, the newest still signing, and the
// old record is purged with its history.
func TestKeysMigrate(t *testing.T) {
	en := newEnv(t)
	ctx := t.Context()
	old1, err := newSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	old2, err := newSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	stored := func(keys ...signingKey) []byte {
		var out struct {
			Keys []storedKey `json:"keys"`
		}
		for _, k := range keys {
			der, err := x509.MarshalPKCS8PrivateKey(k.key)
			if err != nil {
				t.Fatal(err)
			}
			out.Keys = append(out.Keys, storedKey{Kid: k.kid, Created: k.created, PKCS8: der})
		}
		b, _ := json.Marshal(out)
		return b
	}
	if err := create(ctx, en.st, TypeSigningKeys, signingKeysID, stored(old1), nil); err != nil {
		t.Fatal(err)
	}
	old2.created = old1.created.Add(time.Second)
	if err := en.st.Write(ctx, store.Write{Op: store.OpUpdate, Type: TypeSigningKeys, ID: signingKeysID, Version: 2,
		LastUpdated: time.Now().UTC(), Body: stored(old2, old1)}); err != nil {
		t.Fatal(err)
	}
	ks, err := loadKeys(ctx, en.st)
	if err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range ks.JWKS(ctx).Keys {
		kids[k.Kid] = true
	}
	if !kids[old1.kid] || !kids[old2.kid] {
		t.Errorf("migrated keys %v, want %s and %s", kids, old1.kid, old2.kid)
	}
	for v := int64(1); v <= 2; v++ {
		if _, err := en.st.VRead(ctx, TypeSigningKeys, signingKeysID, v); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old key record version %d: %v, want purged", v, err)
		}
	}
}
