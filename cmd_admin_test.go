package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-health/portico/smart"
)

func runAdminTest(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := admin(append(args, "--data-dir", dir), &out, &errb)
	return code, out.String(), errb.String()
}

func TestAdminApps(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(smart.JWKS{Keys: []smart.JWK{smart.RSAPublicJWK(&key.PublicKey, "RS384")}})
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, set, 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, stderr := runAdminTest(t, dir, "app", "create", "--name", "Lab sync", "--type", "backend", "--jwks-file", jwksFile, "--scope", "system/Observation.rs")
	if code != 0 {
		t.Fatalf("backend: %d %s", code, stderr)
	}
	var backend map[string]any
	if err := json.Unmarshal([]byte(out), &backend); err != nil || backend["client_id"] == "" || backend["client_secret"] != nil || backend["jwks_registered"] != true {
		t.Fatalf("backend output %s", out)
	}

	code, out, stderr = runAdminTest(t, dir, "app", "create", "--name", "Portal", "--type", "confidential",
		"--redirect-uri", "https://portal.example/cb", "--redirect-uri", "https://portal.example/cb2")
	if code != 0 {
		t.Fatalf("confidential: %d %s", code, stderr)
	}
	var conf map[string]any
	if err := json.Unmarshal([]byte(out), &conf); err != nil || conf["client_secret"] == nil || len(conf["redirect_uris"].([]any)) != 2 {
		t.Fatalf("confidential output %s", out)
	}
	if strings.Contains(out, "argon2") {
		t.Error("the secret hash was printed")
	}
	id := conf["client_id"].(string)

	code, out, _ = runAdminTest(t, dir, "app", "rotate-secret", "--client-id", id)
	if code != 0 || !strings.Contains(out, "client_secret") || strings.Contains(out, conf["client_secret"].(string)) {
		t.Errorf("rotate-secret: %d %s", code, out)
	}
	if code, out, _ = runAdminTest(t, dir, "app", "disable", "--client-id", id); code != 0 || !strings.Contains(out, `"disabled": true`) {
		t.Errorf("disable: %d %s", code, out)
	}
	code, out, _ = runAdminTest(t, dir, "app", "list")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 2 || strings.Contains(out, "argon2") {
		t.Errorf("list: %d %s", code, out)
	}

	code, _, stderr = runAdminTest(t, dir, "app", "create", "--name", "x", "--type", "public", "--redirect-uri", "javascript:alert(1)")
	if code != 1 || !strings.Contains(stderr, `"javascript:alert(1)"`) || !strings.Contains(stderr, "use https, http on a loopback host") {
		t.Errorf("javascript: redirect URI: exit %d, %s", code, stderr)
	}

	code, out, stderr = runAdminTest(t, dir, "app", "create", "--name", "Imaging API", "--type", "resource-server")
	var rs map[string]any
	if err := json.Unmarshal([]byte(out), &rs); code != 0 || err != nil || rs["client_secret"] == nil || rs["scope"] != "" {
		t.Errorf("resource server: %d %s %s", code, out, stderr)
	}

	for name, args := range map[string][]string{
		"resource server with a redirect": {"app", "create", "--name", "x", "--type", "resource-server", "--redirect-uri", "https://x.example/cb"},
		"no type":                         {"app", "create", "--name", "x"},
		"backend, no keys":                {"app", "create", "--name", "x", "--type", "backend"},
		"unknown client":                  {"app", "disable", "--client-id", "nope"},
		"missing file":                    {"app", "create", "--name", "x", "--type", "backend", "--jwks-file", "/nonexistent"},
	} {
		if code, _, _ := runAdminTest(t, dir, args...); code != 1 {
			t.Errorf("%s: exit %d, want 1", name, code)
		}
	}
	if code, _, _ := runAdminTest(t, dir, "app", "explode"); code != 2 {
		t.Errorf("unknown command: %d", code)
	}
}

func TestAdminUsersAndKeys(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runAdminTest(t, dir, "user", "create", "--username", "alice", "--password", "correct horse", "--fhir-user", "Patient/123")
	if code != 0 || !strings.Contains(out, `"fhir_user": "Patient/123"`) || strings.Contains(out, "argon2") || strings.Contains(out, "correct horse") {
		t.Fatalf("create: %d %s %s", code, out, stderr)
	}
	if code, _, _ := runAdminTest(t, dir, "user", "create", "--username", "ALICE", "--password", "correct horse", "--fhir-user", "Patient/1"); code != 1 {
		t.Errorf("duplicate: %d", code)
	}
	if code, out, _ := runAdminTest(t, dir, "user", "disable", "--username", "alice"); code != 0 || !strings.Contains(out, `"disabled": true`) {
		t.Errorf("disable: %d %s", code, out)
	}
	if code, out, _ := runAdminTest(t, dir, "user", "list"); code != 0 || !strings.Contains(out, "alice") || strings.Contains(out, "argon2") {
		t.Errorf("list: %d %s", code, out)
	}
	if code, out, _ := runAdminTest(t, dir, "keys", "rotate"); code != 0 || !strings.Contains(out, `"kid"`) {
		t.Errorf("keys rotate: %d %s", code, out)
	}
}
