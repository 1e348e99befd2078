package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmptyRoot runs the static binary as the container image does: in an empty root (no
// /usr/share/zoneinfo, no /etc, nothing but the binary, /tmp and the data directory), with
// the default triage configuration's America/New_York calendar. It must serve, and `portico
// healthcheck` must say so (exit 0), and fail (exit 1) where nothing listens. chroot needs
// root: the test is skipped otherwise.
func TestEmptyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root := t.TempDir()
	for _, d := range []string{"tmp", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(root, "portico"), ".")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	log := &syncBuffer{}
	srv := exec.Command("chroot", root, "/portico", "serve", "--addr", addr, "--data-dir", "/data", "--auth", "none")
	srv.Env = []string{"TMPDIR=/tmp"}
	srv.Stdout, srv.Stderr = log, log
	if err := srv.Start(); err != nil {
		t.Skipf("chroot: %v", err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	health := func(a string) int {
		c := exec.Command("chroot", root, "/portico", "healthcheck", "--addr", a)
		c.Env = []string{}
		return exitCode(t, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for health(addr) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the server in an empty root never became ready:\n%s", log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/fhir/Communication", strings.NewReader(
		`{"resourceType":"Communication","status":"in-progress","sender":{"reference":"Patient/p"},"payload":[{"contentString":"refill please"}]}`))
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("a patient message in an empty root: %d\n%s", resp.StatusCode, log.String())
	}
	if code := health(freeAddr(t)); code != 1 {
		t.Errorf("healthcheck where nothing listens: exit %d, want 1", code)
	}
}

// exitCode runs c and returns its exit code; a command that cannot be run fails the test.
func exitCode(t *testing.T, c *exec.Cmd) int {
	t.Helper()
	if err := c.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatal(err)
	}
	return 0
}
