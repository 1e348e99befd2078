package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runPortico runs the portico binary with args and returns its exit code and output.
func runPortico(t *testing.T, bin string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		<-ctx.Done()
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("portico %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

// TestVersionInCapabilityStatement: `portico version` and the CapabilityStatement's
// software.version show the same value: the one the build recorded, here given to the linker
// as a build without VCS data (the image) is given it.
func TestVersionInCapabilityStatement(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "portico")
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X github.com/portico-health/portico/internal/buildinfo.version=v0.0.0-e2e-test", ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct{ bin, want string }{
		{bin, "v0.0.0-e2e-test"},
		{porticoBinary(t), ""}, // as built for the other tests: whatever it says, both agree
	} {
		code, out, _ := runPortico(t, tc.bin, nil, "version")
		first, _, _ := strings.Cut(out, "\n")
		version := strings.TrimPrefix(first, "portico ")
		if code != 0 || version == first || tc.want != "" && version != tc.want {
			t.Fatalf("portico version: exit %d, %q; want %q", code, out, tc.want)
		}
		if _, out2, _ := runPortico(t, tc.bin, nil, "--version"); out2 != out {
			t.Errorf("--version %q, version %q", out2, out)
		}

		addr := freeAddr(t)
		p := &proc{t: t, base: "http://" + addr + "/fhir", log: &syncBuffer{}, exited: make(chan struct{})}
		p.cmd = exec.Command(tc.bin, "serve", "--addr", addr, "--base-url", p.base, "--data-dir", t.TempDir(), "--auth", "none", "--log-level", "warn")
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.err = p.cmd.Wait(); close(p.exited) }()
		var cs struct{ Software struct{ Version string } }
		deadline := time.Now().Add(30 * time.Second)
		for cs.Software.Version == "" && time.Now().Before(deadline) {
			if r, err := newClient(p.base).do(context.Background(), http.MethodGet, "metadata", nil); err == nil && r.status == http.StatusOK {
				_ = json.Unmarshal(r.body, &cs)
			} else {
				time.Sleep(50 * time.Millisecond)
			}
		}
		p.kill()
		if cs.Software.Version != version {
			t.Errorf("CapabilityStatement software.version %q, portico version %q\n%s", cs.Software.Version, version, p.log.String())
		}
	}
}

// TestStartRefusesAnEmptyDatabase: a database file truncated to zero bytes stops the start with
// a message naming it, instead of starting as an empty store with new signing keys; the file
// stays as it was. A new data directory still starts.
func TestStartRefusesAnEmptyDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "portico.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runPortico(t, porticoBinary(t), nil, "serve", "--addr", freeAddr(t), "--data-dir", dir)
	if code != 1 || !strings.Contains(stderr, db+` is empty (0 bytes)`) {
		t.Errorf("serve on a zero-length database: exit %d\n%s", code, stderr)
	}
	if st, err := os.Stat(db); err != nil || st.Size() != 0 {
		t.Errorf("the empty file was written to: %v, %v", st, err)
	}
	code, _, stderr = runPortico(t, porticoBinary(t), nil, "admin", "keys", "rotate", "--data-dir", dir)
	if code != 1 || !strings.Contains(stderr, "is empty (0 bytes)") {
		t.Errorf("admin on a zero-length database: exit %d\n%s", code, stderr)
	}
	startPortico(t, freeAddr(t), filepath.Join(t.TempDir(), "new"))
}

// TestUnwritableDataDir: a data directory Portico may not write in stops the start with
// "permission denied" and the path (SQLite alone says "unable to open database file (14)").
// Run as root, the server runs as nobody (root may write anywhere).
func TestUnwritableDataDir(t *testing.T) {
	base, err := os.MkdirTemp("", "portico-e2e-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(base, "data"), 0o700); _ = os.RemoveAll(base) })
	bin := filepath.Join(base, "portico")
	src, err := os.ReadFile(porticoBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "data")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--addr", freeAddr(t), "--data-dir", dir)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("serve on a read-only data directory: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "permission denied") || !strings.Contains(stderr.String(), dir+"/") || strings.Contains(stderr.String(), "(14)") {
		t.Errorf("the error does not say permission denied with the path:\n%s", stderr.String())
	}
}

// TestBackupRestore: `portico admin backup` copies the store while the server serves and
// clients keep writing; `portico admin restore` puts the copy into a new data directory; a
// server started on it has every write acknowledged before the backup began, with version ids
// and history intact, and the same signing keys and apps: a token the first server issued
// works on it once it serves at the same address.
func TestBackupRestore(t *testing.T) {
	bin := porticoBinary(t)
	dataA := t.TempDir()
	addrA := freeAddr(t)
	a := startServe(t, addrA, "/readyz", "--data-dir", dataA, "--log-level", "warn")
	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	adminJSON(t, dataA, nil, &app, "app", "create", "--name", "Backup test EHR", "--type", "confidential",
		"--redirect-uri", "https://ehr.example/callback", "--scope", "system/*.cruds")
	ehr := &ehrClient{t: t, c: newClient(a.base), origin: "http://" + addrA, id: app.ClientID, secret: app.ClientSecret}
	token := ehr.accessToken()
	auth := []string{"Authorization", "Bearer " + token}
	ctx := context.Background()

	put := func(c *client, id string, n int) (int64, error) {
		body := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"Backup","given":["Update %d"]}]}`, id, n)
		r, err := c.do(ctx, http.MethodPut, "Patient/"+id, []byte(body), auth...)
		if err != nil {
			return 0, err
		}
		if r.status != http.StatusOK && r.status != http.StatusCreated {
			return 0, fmt.Errorf("PUT Patient/%s: %d %s", id, r.status, r.body)
		}
		_, v, err := written(r)
		return v, err
	}
	for n := range 4 {
		if _, err := put(ehr.c, "steady", n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := put(ehr.c, "gone", 0); err != nil {
		t.Fatal(err)
	}
	if r, err := ehr.c.do(ctx, http.MethodDelete, "Patient/gone", nil, auth...); err != nil || r.status/100 != 2 {
		t.Fatalf("DELETE: %v %d", err, r.status)
	}
	// Enough data that the copy takes a while: 8,000 Observations in transaction Bundles.
	for range 16 {
		entries := make([]string, 500)
		for i := range entries {
			entries[i] = `{"resource":{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"subject":{"reference":"Patient/steady"},"valueQuantity":{"value":5.4,"unit":"mmol/L"}},"request":{"method":"POST","url":"Observation"}}`
		}
		bundle := `{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`
		if r, err := ehr.c.do(ctx, http.MethodPost, "", []byte(bundle), auth...); err != nil || r.status != http.StatusOK {
			t.Fatalf("transaction: %v %d %.300s", err, r.status, r.body)
		}
	}

	// Clients write throughout the backup: new Observations, and updates of one Patient.
	var mu sync.Mutex
	var created []string
	var hot int64
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c := newClient(a.base)
		for n := 0; wctx.Err() == nil; n++ {
			r, err := c.do(wctx, http.MethodPost, "Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/steady"},"valueQuantity":{"value":70,"unit":"kg"}}`), auth...)
			if err != nil || r.status != http.StatusCreated {
				if wctx.Err() == nil {
					t.Errorf("create during the backup: %v %d %s", err, r.status, r.body)
				}
				return
			}
			id, _, _ := written(r)
			mu.Lock()
			created = append(created, id)
			mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		c := newClient(a.base)
		for n := 0; wctx.Err() == nil; n++ {
			v, err := put(c, "hot", n)
			if err != nil {
				if wctx.Err() == nil {
					t.Errorf("update during the backup: %v", err)
				}
				return
			}
			mu.Lock()
			hot = v
			mu.Unlock()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	createdBefore, hotBefore := slices.Clone(created), hot
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "portico-backup.db")
	code, stdout, stderr := runPortico(t, bin, nil, "admin", "backup", "--data-dir", dataA, "--out", out)
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	createdAfter := len(created)
	mu.Unlock()
	stop()
	wg.Wait()
	if code != 0 {
		t.Fatalf("admin backup: exit %d\n%s", code, stderr)
	}
	var info struct {
		Resources, Versions int64
		Bytes               int64
	}
	if err := json.Unmarshal([]byte(stdout), &info); err != nil || info.Resources < int64(len(createdBefore)+8003) {
		t.Fatalf("admin backup printed %s (%v)", stdout, err)
	}
	if len(createdBefore) == 0 || hotBefore == 0 || createdAfter <= len(createdBefore) {
		t.Fatalf("the writers did not run throughout: %d creates before the backup, %d after, hot at version %d", len(createdBefore), createdAfter, hotBefore)
	}
	t.Logf("backup of %d resources, %d versions (%d bytes) while %d creates and Patient/hot's updates to version %d went on; %d creates by its end",
		info.Resources, info.Versions, info.Bytes, len(createdBefore), hotBefore, createdAfter)
	if r, err := newClient(a.base).do(ctx, http.MethodGet, "Patient/steady", nil, auth...); err != nil || r.status != http.StatusOK {
		t.Fatalf("the server after the backup: %v %d", err, r.status)
	}

	if code, _, stderr := runPortico(t, bin, nil, "admin", "restore", "--from", out, "--data-dir", dataA); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("restore over the running server's database: exit %d\n%s", code, stderr)
	}
	dataB := filepath.Join(t.TempDir(), "restored")
	if code, _, stderr := runPortico(t, bin, nil, "admin", "restore", "--from", out, "--data-dir", dataB); code != 0 {
		t.Fatalf("admin restore: exit %d\n%s", code, stderr)
	}
	jwks := func(origin string) string {
		t.Helper()
		r, err := newClient(a.base).do(ctx, http.MethodGet, origin+"/auth/jwks", nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("GET %s/auth/jwks: %v %d", origin, err, r.status)
		}
		var set struct{ Keys []struct{ Kid string } }
		_ = json.Unmarshal(r.body, &set)
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		slices.Sort(kids)
		return strings.Join(kids, " ")
	}
	keysA := jwks("http://" + addrA)

	// The restored store replaces the first at the same address and base URL (tokens name
	// their issuer and audience), as after a restore in place.
	a.terminate()
	if _, err := a.wait(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	b := startServe(t, addrA, "/readyz", "--data-dir", dataB, "--log-level", "warn")
	cb := newClient(b.base)

	// The first server's token: the restored store has its signing keys and the app.
	get := func(path string) response {
		t.Helper()
		r, err := cb.do(ctx, http.MethodGet, path, nil, auth...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	history := func(id string) []int64 {
		t.Helper()
		var entries []map[string]any
		for path := "Patient/" + id + "/_history?_count=500"; path != ""; {
			r := get(path)
			var page struct {
				Link  []struct{ Relation, URL string }
				Entry []map[string]any
			}
			if r.status != http.StatusOK || json.Unmarshal(r.body, &page) != nil {
				t.Fatalf("GET %s: %d %.300s", path, r.status, r.body)
			}
			entries, path = append(entries, page.Entry...), ""
			for _, l := range page.Link {
				if l.Relation == "next" {
					path = l.URL
				}
			}
		}
		var vs []int64
		for _, e := range entries {
			req, _ := e["request"].(map[string]any)
			if res, ok := e["resource"].(map[string]any); ok {
				vs = append(vs, versionOf(res))
			} else if req != nil && req["method"] == "DELETE" {
				vs = append(vs, -1) // the tombstone
			}
		}
		return vs
	}
	r := get("Patient/steady")
	var steady map[string]any
	if r.status != http.StatusOK || json.Unmarshal(r.body, &steady) != nil || versionOf(steady) != 4 {
		t.Fatalf("Patient/steady on the restored server with the first server's token: %d %s", r.status, r.body)
	}
	if vs := history("steady"); !slices.Equal(vs, []int64{4, 3, 2, 1}) {
		t.Errorf("Patient/steady history on the restored server: %v, want [4 3 2 1]", vs)
	}
	if r := get("Patient/gone"); r.status != http.StatusGone {
		t.Errorf("a deleted Patient on the restored server: %d, want 410", r.status)
	}
	var hotRes map[string]any
	if r := get("Patient/hot"); r.status != http.StatusOK || json.Unmarshal(r.body, &hotRes) != nil || versionOf(hotRes) < hotBefore {
		t.Fatalf("Patient/hot on the restored server: %d, version %d; version %d was acknowledged before the backup began", r.status, versionOf(hotRes), hotBefore)
	}
	if vs := history("hot"); int64(len(vs)) != versionOf(hotRes) || vs[0] != versionOf(hotRes) || vs[len(vs)-1] != 1 {
		t.Errorf("Patient/hot history on the restored server: %d entries from %v, want %d without a gap", len(vs), vs[:min(3, len(vs))], versionOf(hotRes))
	}
	for _, id := range createdBefore {
		if r := get("Observation/" + id); r.status != http.StatusOK {
			t.Fatalf("Observation/%s, acknowledged before the backup began, on the restored server: %d", id, r.status)
		}
	}
	if keysB := jwks("http://" + addrA); keysA == "" || keysA != keysB {
		t.Errorf("signing keys: %q on the first server, %q on the restored one", keysA, keysB)
	}
}
