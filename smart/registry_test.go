package smart

import (
	"errors"
	"strings"
	"testing"
)

func TestUsers(t *testing.T) {
	en := newEnv(t)
	reg := en.srv.Registry()
	ctx := t.Context()
	u, err := reg.CreateUser(ctx, "Alice", "correct horse", "Patient/123")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$") || strings.Contains(u.PasswordHash, "correct") {
		t.Errorf("hash %q", u.PasswordHash)
	}
	if _, err := reg.CreateUser(ctx, "alice", "another one", "Patient/124"); !errors.Is(err, ErrUsernameTaken) {
		t.Errorf("duplicate username: %v", err)
	}
	for _, bad := range [][3]string{{"", "long enough", "Patient/1"}, {"bob", "short", "Patient/1"}, {"bob", "long enough", "Organization/1"}, {"bob", "long enough", "Patient/"}} {
		if _, err := reg.CreateUser(ctx, bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("CreateUser%q accepted", bad)
		}
	}
	if got, err := reg.CheckPassword(ctx, "ALICE", "correct horse"); err != nil || got.FHIRUser != "Patient/123" {
		t.Errorf("CheckPassword: %v %v", got, err)
	}
	for _, c := range [][2]string{{"alice", "wrong"}, {"nobody", "correct horse"}} {
		if _, err := reg.CheckPassword(ctx, c[0], c[1]); !errors.Is(err, ErrBadPassword) {
			t.Errorf("CheckPassword%q: %v", c, err)
		}
	}
	if _, err := reg.CreateUser(ctx, "bob", "bob's password", "Practitioner/7"); err != nil {
		t.Fatal(err)
	}
	if users, err := reg.Users(ctx); err != nil || len(users) != 2 {
		t.Errorf("Users: %v %v", users, err)
	}
	if err := reg.DisableUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CheckPassword(ctx, "alice", "correct horse"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("disabled user signs in: %v", err)
	}
	if u, err := reg.UserByUsername(ctx, "alice"); err != nil || !u.Disabled {
		t.Errorf("after disable: %v %v", u, err)
	}
}

func TestClients(t *testing.T) {
	en := newEnv(t)
	reg := en.srv.Registry()
	ctx := t.Context()
	pub, secret, err := reg.CreateClient(ctx, Client{Name: "spa", Type: ClientPublic, RedirectURIs: []string{"https://spa.example/cb"}})
	if err != nil || secret != "" || pub.SecretHash != "" || pub.Scope == "" {
		t.Fatalf("public: %+v %q %v", pub, secret, err)
	}
	for name, c := range map[string]Client{
		"no name":             {Type: ClientPublic, RedirectURIs: []string{"https://a/cb"}},
		"bad type":            {Name: "x", Type: "weird"},
		"no redirect":         {Name: "x", Type: ClientPublic},
		"fragment":            {Name: "x", Type: ClientPublic, RedirectURIs: []string{"https://a/cb#f"}},
		"backend without key": {Name: "x", Type: ClientBackend},
		"backend patient":     {Name: "x", Type: ClientBackend, JWKSURL: "https://a/jwks", Scope: "patient/*.rs"},
		"bad jwks":            {Name: "x", Type: ClientBackend, JWKS: []byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)},
		"bad scope":           {Name: "x", Type: ClientPublic, RedirectURIs: []string{"https://a/cb"}, Scope: "patient/Observation.sr"},
	} {
		if _, _, err := reg.CreateClient(ctx, c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := reg.DisableClient(ctx, pub.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := reg.Client(ctx, pub.ID); err != nil || !c.Disabled {
		t.Errorf("after disable: %+v %v", c, err)
	}
	if _, err := reg.RotateSecret(ctx, pub.ID); err == nil {
		t.Error("rotated the secret of a public client")
	}
	if _, err := reg.Client(ctx, "nope"); !errors.Is(err, ErrUnknownClient) {
		t.Errorf("unknown: %v", err)
	}
	if err := reg.DisableClient(ctx, "nope"); !errors.Is(err, ErrUnknownClient) {
		t.Errorf("disable unknown: %v", err)
	}
	if cs, err := reg.Clients(ctx); err != nil || len(cs) != 1 {
		t.Errorf("Clients: %v %v", cs, err)
	}
}

func TestHashSecret(t *testing.T) {
	h, err := HashSecret("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashSecret("s3cret")
	if h == h2 {
		t.Error("no salt")
	}
	if !verifySecretHash(h, "s3cret") || verifySecretHash(h, "s3cret ") || verifySecretHash(h, "") {
		t.Error("VerifySecret")
	}
	for _, bad := range []string{"", "$argon2id$", "$argon2i$v=19$m=65536,t=3,p=2$AAAA$AAAA", strings.Replace(h, "m=65536", "m=99999999", 1)} {
		if verifySecretHash(bad, "s3cret") {
			t.Errorf("accepted hash %q", bad)
		}
	}
}
