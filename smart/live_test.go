package smart

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
)

// TestDisableStopsTokens: disabling a user or an app in another process on the same store (a
// second Server's registry, as `portico admin user disable` and `app disable` do) stops the
// access tokens, their introspection and the refresh tokens of that user or app within
// tokenRecheck, in this process too.
func TestDisableStopsTokens(t *testing.T) {
	en := newEnv(t)
	a := en.newApp(ClientConfidential, "")
	for _, u := range []string{"alice", "bob"} {
		if _, err := en.srv.Registry().CreateUser(t.Context(), u, "alice password", "Patient/p1"); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := New(Config{Store: en.st, BaseURL: en.ts.URL + "/fhir", Now: en.now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	userToken := func(username string) *oauth2.Token {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		redirect := en.browser().authorize(a, flow{scopes: patientScopes, username: username, password: "alice password", verifier: verifier})
		tok, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	introspect := func(token string) any {
		t.Helper()
		_, _, body := en.post("/auth/introspect", url.Values{"token": {token}}, a.client.ID, a.cfg.ClientSecret)
		return body["active"]
	}
	refresh := func(rt string) (int, any) {
		status, _, body := en.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, a.client.ID, a.cfg.ClientSecret)
		return status, body["error"]
	}

	alice, bob := userToken("alice"), userToken("bob")
	if status, _ := en.whoami(alice.AccessToken); status != http.StatusOK || introspect(alice.AccessToken) != true {
		t.Fatalf("fresh token: %d", status)
	}
	if err := admin.Registry().DisableUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	en.advance(tokenRecheck)
	if status, _ := en.whoami(alice.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("access token of a disabled user: %d, want 401", status)
	}
	if active := introspect(alice.AccessToken); active != false {
		t.Errorf("access token of a disabled user introspects active: %v", active)
	}
	if status, code := refresh(alice.RefreshToken); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Errorf("refresh token of a disabled user: %d %v", status, code)
	}
	if status, _ := en.whoami(bob.AccessToken); status != http.StatusOK {
		t.Errorf("another user's token: %d", status)
	}
	// The refused refresh did not use the token up: enabled again, alice's app refreshes
	// (blind attack, round 9: it then got invalid_grant, and the next try revoked the grant).
	if err := admin.Registry().EnableUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	en.advance(tokenRecheck)
	if status, code := refresh(alice.RefreshToken); status != http.StatusOK {
		t.Errorf("refresh token after the user was enabled again: %d %v", status, code)
	}

	if err := admin.Registry().DisableClient(t.Context(), a.client.ID); err != nil {
		t.Fatal(err)
	}
	en.advance(tokenRecheck)
	if status, _ := en.whoami(bob.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("access token of a disabled app: %d, want 401", status)
	}
	if status, code := refresh(bob.RefreshToken); status != http.StatusUnauthorized || code != "invalid_client" {
		t.Errorf("refresh token of a disabled app: %d %v", status, code)
	}
}

// TestDeleteStopsTokens: deleting a user or an app from another Server on the same store (as
// `portico admin user delete` and `app delete` do) stops their access tokens, introspection
// and refresh tokens within tokenRecheck, like disabling; enabling a disabled user restores
// their tokens; a deleted username can be given to a new user, who does not inherit the
// grants of the old one.
func TestDeleteStopsTokens(t *testing.T) {
	en := newEnv(t)
	a := en.newApp(ClientConfidential, "")
	for _, u := range []string{"alice", "bob"} {
		if _, err := en.srv.Registry().CreateUser(t.Context(), u, "alice password", "Patient/p1"); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := New(Config{Store: en.st, BaseURL: en.ts.URL + "/fhir", Now: en.now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	reg := admin.Registry()
	userToken := func(username, password string) *oauth2.Token {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		redirect := en.browser().authorize(a, flow{scopes: patientScopes, username: username, password: password, verifier: verifier})
		tok, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	introspect := func(token string) any {
		t.Helper()
		_, _, body := en.post("/auth/introspect", url.Values{"token": {token}}, a.client.ID, a.cfg.ClientSecret)
		return body["active"]
	}
	refresh := func(rt string) (int, any) {
		status, _, body := en.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, a.client.ID, a.cfg.ClientSecret)
		return status, body["error"]
	}

	alice, bob := userToken("alice", "alice password"), userToken("bob", "alice password")
	if err := reg.DisableUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	en.advance(tokenRecheck)
	if status, _ := en.whoami(alice.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("access token of a disabled user: %d, want 401", status)
	}
	if err := reg.EnableUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	en.advance(tokenRecheck)
	if status, _ := en.whoami(alice.AccessToken); status != http.StatusOK {
		t.Errorf("access token of a user enabled again: %d, want 200", status)
	}

	if err := reg.DeleteUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.UserByUsername(t.Context(), "alice"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("a deleted user is still found: %v", err)
	}
	en.advance(tokenRecheck)
	if status, _ := en.whoami(alice.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("access token of a deleted user: %d, want 401", status)
	}
	if active := introspect(alice.AccessToken); active != false {
		t.Errorf("access token of a deleted user introspects active: %v", active)
	}
	if status, code := refresh(alice.RefreshToken); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Errorf("refresh token of a deleted user: %d %v", status, code)
	}
	if status, _ := en.whoami(bob.AccessToken); status != http.StatusOK {
		t.Errorf("another user's token: %d", status)
	}
	// The name is free again, and the new alice's password is hers.
	if _, err := reg.CreateUser(t.Context(), "alice", "new alice password", "Patient/p1"); err != nil {
		t.Fatalf("create a user with a deleted username: %v", err)
	}
	if status, code := refresh(alice.RefreshToken); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Errorf("the old alice's refresh token after a new alice: %d %v", status, code)
	}
	if err := reg.SetPassword(t.Context(), "alice", "short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
	if err := reg.SetPassword(t.Context(), "alice", "newer alice password"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CheckPassword(t.Context(), "alice", "new alice password"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("the password before the reset still works: %v", err)
	}
	if _, err := reg.CheckPassword(t.Context(), "alice", "newer alice password"); err != nil {
		t.Errorf("the reset password: %v", err)
	}

	if err := reg.DeleteClient(t.Context(), a.client.ID); err != nil {
		t.Fatal(err)
	}
	if err := reg.DeleteClient(t.Context(), a.client.ID); !errors.Is(err, ErrUnknownClient) {
		t.Errorf("delete a deleted app: %v, want ErrUnknownClient", err)
	}
	en.advance(tokenRecheck)
	if status, _ := en.whoami(bob.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("access token of a deleted app: %d, want 401", status)
	}
	if status, code := refresh(bob.RefreshToken); status != http.StatusUnauthorized || code != "invalid_client" {
		t.Errorf("refresh token of a deleted app: %d %v", status, code)
	}
}

// BenchmarkVerifyAccessToken is the cost per request of an access token on the API: from the
// cache (the usual case), and the full check that runs once per token every tokenRecheck
// (signature, revocations, client and user records).
func BenchmarkVerifyAccessToken(b *testing.B) {
	en := newBenchEnv(b)
	backendTok, _ := en.backendAccessToken("system/*.rs")
	a := en.newApp(ClientPublic, "")
	if _, err := en.srv.Registry().CreateUser(b.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		b.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	redirect := en.browser().authorize(a, flow{scopes: patientScopes, username: "alice", password: "alice password", verifier: verifier})
	userTok, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, token string }{{"backend", backendTok}, {"user", userTok.AccessToken}} {
		b.Run(tc.name+"/cached", func(b *testing.B) {
			for b.Loop() {
				if _, err := en.srv.VerifyAccessToken(b.Context(), tc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/full", func(b *testing.B) {
			for b.Loop() {
				en.srv.tokens.reset()
				if _, err := en.srv.VerifyAccessToken(b.Context(), tc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
