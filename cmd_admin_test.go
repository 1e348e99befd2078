package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

func runAdminTest(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	return runAdminStdin(t, dir, "", args...)
}

// runAdminStdin runs `portico admin ARGS --data-dir DIR` with stdin.
func runAdminStdin(t *testing.T, dir, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := admin(append(args, "--data-dir", dir), strings.NewReader(stdin), &out, &errb)
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
	code, out, stderr := runAdminStdin(t, dir, "correct horse\n", "user", "create", "--username", "alice", "--fhir-user", "Patient/123")
	if code != 0 || !strings.Contains(out, `"fhir_user": "Patient/123"`) || strings.Contains(out, "argon2") || strings.Contains(out, "correct horse") {
		t.Fatalf("create: %d %s %s", code, out, stderr)
	}
	if code, _, _ := runAdminStdin(t, dir, "correct horse", "user", "create", "--username", "ALICE", "--fhir-user", "Patient/1"); code != 1 {
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

// TestAdminUserLifecycle: reset-password (from stdin or PORTICO_PASSWORD, never an argument),
// enable and delete, checked against the registry the server reads.
func TestAdminUserLifecycle(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runAdminStdin(t, dir, "first password\n", "user", "create", "--username", "bob", "--fhir-user", "Patient/7"); code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	checkPassword := func(password string) error {
		t.Helper()
		st, err := server.OpenStore(t.Context(), server.Config{DataDir: dir}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = smart.NewRegistry(st).CheckPassword(t.Context(), "bob", password)
		return err
	}

	// A password on the command line is refused before anything is done.
	for _, arg := range []string{"--password", "-password=x", "--password=second password"} {
		code, _, stderr := runAdminTest(t, dir, "user", "reset-password", "--username", "bob", arg)
		if code != 2 || !strings.Contains(stderr, "PORTICO_PASSWORD") {
			t.Errorf("reset-password %s: exit %d, %s", arg, code, stderr)
		}
	}
	if code, _, stderr := runAdminTest(t, dir, "user", "reset-password", "--username", "bob"); code != 1 || !strings.Contains(stderr, "no password") {
		t.Errorf("reset-password without a password: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runAdminStdin(t, dir, "short\n", "user", "reset-password", "--username", "bob"); code != 1 || !strings.Contains(stderr, "at least 8") {
		t.Errorf("reset-password to a short one: exit %d, %s", code, stderr)
	}
	if err := checkPassword("first password"); err != nil {
		t.Fatalf("after refused resets: %v", err)
	}
	code, out, stderr := runAdminStdin(t, dir, "second password\r\nignored\n", "user", "reset-password", "--username", "bob")
	if code != 0 || !strings.Contains(out, `"username": "bob"`) || strings.Contains(out, "second password") {
		t.Fatalf("reset-password: %d %s %s", code, out, stderr)
	}
	if err := checkPassword("first password"); !errors.Is(err, smart.ErrBadPassword) {
		t.Errorf("the old password after a reset: %v", err)
	}
	if err := checkPassword("second password"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	t.Setenv(passwordEnv, "third password")
	if code, _, stderr := runAdminStdin(t, dir, "not this one\n", "user", "reset-password", "--username", "bob"); code != 0 {
		t.Fatalf("reset-password from PORTICO_PASSWORD: %d %s", code, stderr)
	}
	if err := checkPassword("third password"); err != nil {
		t.Errorf("the password from PORTICO_PASSWORD: %v", err)
	}
	if code, _, _ := runAdminTest(t, dir, "user", "reset-password", "--username", "nobody"); code != 1 {
		t.Errorf("reset-password of an unknown user: %d", code)
	}

	if code, out, _ := runAdminTest(t, dir, "user", "disable", "--username", "bob"); code != 0 || !strings.Contains(out, `"disabled": true`) {
		t.Errorf("disable: %d %s", code, out)
	}
	if err := checkPassword("third password"); !errors.Is(err, smart.ErrBadPassword) {
		t.Errorf("a disabled user signs in: %v", err)
	}
	if code, out, _ := runAdminTest(t, dir, "user", "enable", "--username", "bob"); code != 0 || !strings.Contains(out, `"disabled": false`) {
		t.Errorf("enable: %d %s", code, out)
	}
	if err := checkPassword("third password"); err != nil {
		t.Errorf("an enabled user: %v", err)
	}
	if code, out, _ := runAdminTest(t, dir, "user", "delete", "--username", "bob"); code != 0 || !strings.Contains(out, `"deleted": true`) {
		t.Errorf("delete: %d %s", code, out)
	}
	if code, out, _ := runAdminTest(t, dir, "user", "list"); code != 0 || strings.Contains(out, "bob") {
		t.Errorf("list after delete: %d %s", code, out)
	}
	for _, verb := range []string{"delete", "enable", "disable"} {
		if code, _, stderr := runAdminTest(t, dir, "user", verb, "--username", "bob"); code != 1 || !strings.Contains(stderr, "unknown user") {
			t.Errorf("%s a deleted user: exit %d, %s", verb, code, stderr)
		}
	}
}

// TestAdminAppLifecycle: enable and delete.
func TestAdminAppLifecycle(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runAdminTest(t, dir, "app", "create", "--name", "Portal", "--type", "public", "--redirect-uri", "https://portal.example/cb")
	var app map[string]any
	if err := json.Unmarshal([]byte(out), &app); code != 0 || err != nil {
		t.Fatalf("create: %d %s %s", code, out, stderr)
	}
	id := app["client_id"].(string)
	if code, out, _ := runAdminTest(t, dir, "app", "disable", "--client-id", id); code != 0 || !strings.Contains(out, `"disabled": true`) {
		t.Errorf("disable: %d %s", code, out)
	}
	if code, out, _ := runAdminTest(t, dir, "app", "enable", "--client-id", id); code != 0 || !strings.Contains(out, `"disabled": false`) {
		t.Errorf("enable: %d %s", code, out)
	}
	if code, out, _ := runAdminTest(t, dir, "app", "delete", "--client-id", id); code != 0 || !strings.Contains(out, `"deleted": true`) {
		t.Errorf("delete: %d %s", code, out)
	}
	if code, out, _ := runAdminTest(t, dir, "app", "list"); code != 0 || strings.Contains(out, id) {
		t.Errorf("list after delete: %d %s", code, out)
	}
	for _, verb := range []string{"delete", "enable", "disable", "rotate-secret"} {
		if code, _, stderr := runAdminTest(t, dir, "app", verb, "--client-id", id); code != 1 || !strings.Contains(stderr, "unknown client") {
			t.Errorf("%s a deleted app: exit %d, %s", verb, code, stderr)
		}
	}
}

// TestAdminBackupRestore: backup and restore through the command, JSON out; a restore never
// replaces a database; on MongoDB both point to mongodump.
func TestAdminBackupRestore(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runAdminTest(t, dir, "keys", "rotate"); code != 0 {
		t.Fatalf("keys rotate: %d %s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	code, stdout, stderr := runAdminTest(t, dir, "backup", "--out", out)
	var info struct {
		File          string
		SchemaVersion int `json:"schema_version"`
		Resources     int
	}
	if err := json.Unmarshal([]byte(stdout), &info); code != 0 || err != nil || info.File != out || info.SchemaVersion == 0 || info.Resources == 0 {
		t.Fatalf("backup: %d %s %s", code, stdout, stderr)
	}
	if code, _, stderr := runAdminTest(t, dir, "backup", "--out", out); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("backup over a file: %d %s", code, stderr)
	}
	if code, _, stderr := runAdminTest(t, dir, "restore", "--from", out); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("restore over a database: %d %s", code, stderr)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if code, _, stderr := runAdminTest(t, restored, "restore", "--from", out); code != 0 {
		t.Fatalf("restore: %d %s", code, stderr)
	}
	if code, stdout, _ := runAdminTest(t, restored, "keys", "rotate"); code != 0 || !strings.Contains(stdout, "kid") {
		t.Errorf("the restored store: %d %s", code, stdout)
	}
	for _, args := range [][]string{{"backup", "--out", filepath.Join(t.TempDir(), "m.db")}, {"restore", "--from", out}} {
		code, _, stderr := runAdminTest(t, dir, append(args, "--store", "mongodb://localhost:1/portico")...)
		if code != 1 || !strings.Contains(stderr, "mongodump") {
			t.Errorf("%s on MongoDB: %d %s", args[0], code, stderr)
		}
	}
	if code, _, stderr := runAdminTest(t, dir, "backup"); code != 2 || !strings.Contains(stderr, "--out is required") {
		t.Errorf("backup without --out: %d %s", code, stderr)
	}
}

// TestAdminReindex: data indexed by an older build (here: a Schedule whose actor, spelled
// "<base>//Patient/p1", was indexed as a remote URL, and a Patient without its name entries)
// answers searches as new data does once `portico admin reindex` ran; the authorization
// server's records and deleted resources are left alone.
func TestAdminReindex(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runAdminTest(t, dir, "keys", "rotate"); code != 0 {
		t.Fatalf("keys rotate: %d %s", code, stderr)
	}
	const base = "https://portal.example/fhir"
	st, err := sqlite.Open(t.Context(), sqlite.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	err = st.Write(t.Context(),
		store.Write{Op: store.OpCreate, Type: "Schedule", ID: "s1", Version: 1, LastUpdated: now,
			Body:  []byte(`{"resourceType":"Schedule","id":"s1","actor":[{"reference":"` + base + `//Patient/p1"}]}`),
			Index: []store.IndexEntry{{Param: "actor", Kind: store.KindReference, RefURL: base + "//Patient/p1"}}},
		store.Write{Op: store.OpCreate, Type: "Patient", ID: "p1", Version: 1, LastUpdated: now,
			Body: []byte(`{"resourceType":"Patient","id":"p1","name":[{"family":"Quintero"}]}`)},
		store.Write{Op: store.OpCreate, Type: "Patient", ID: "gone", Version: 1, LastUpdated: now,
			Body: []byte(`{"resourceType":"Patient","id":"gone"}`)})
	if err == nil {
		err = st.Write(t.Context(), store.Write{Op: store.OpDelete, Type: "Patient", ID: "gone", Version: 2, LastUpdated: now})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	if code, _, stderr := runAdminTest(t, dir, "reindex"); code != 2 || !strings.Contains(stderr, "--base-url is required") {
		t.Errorf("reindex without --base-url: %d %s", code, stderr)
	}
	code, stdout, stderr := runAdminTest(t, dir, "reindex", "--base-url", base)
	var stats server.ReindexStats
	if err := json.Unmarshal([]byte(stdout), &stats); code != 0 || err != nil {
		t.Fatalf("reindex: %d %s %s", code, stdout, stderr)
	}
	if stats != (server.ReindexStats{Reindexed: 2}) {
		t.Errorf("reindex: %+v, want the Schedule and the live Patient", stats)
	}

	st, err = sqlite.Open(t.Context(), sqlite.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, q := range []store.Query{
		{Types: []string{"Schedule"}, Where: []store.Clause{{Param: "actor", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: "p1"}}}}},
		{Types: []string{"Patient"}, Where: []store.Clause{{Param: "family", Kind: store.KindString, Values: []store.Value{{Text: "quintero"}}}}},
	} {
		q.Count = 10
		page, err := st.Search(t.Context(), q)
		if err != nil || len(page.Records) != 1 {
			t.Errorf("%s?%s after reindex: %d matches, %v; want 1", q.Types[0], q.Where[0].Param, len(page.Records), err)
		}
	}
	if rec, err := st.Read(t.Context(), "Schedule", "s1"); err != nil || rec.Version != 1 {
		t.Errorf("the Schedule after reindex: version %d, %v: want version 1 (no version written)", rec.Version, err)
	}
}
