package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/testcert"
)

// TestTLSServe runs the binary with PORTICO_TLS_CERT and PORTICO_TLS_KEY, as a container
// would: it serves HTTPS that a client verifying the certificate accepts, with
// Strict-Transport-Security; `portico healthcheck` with the same environment speaks HTTPS and
// passes, and without it (plain HTTP to a TLS port) fails.
func TestTLSServe(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.Write(t, certFile, keyFile, "localhost")
	addr := freeAddr(t)
	env := append(os.Environ(), "PORTICO_TLS_CERT="+certFile, "PORTICO_TLS_KEY="+keyFile, "PORTICO_ADDR="+addr)
	log := &syncBuffer{}
	srv := exec.Command(porticoBinary(t), "serve", "--data-dir", filepath.Join(dir, "data"), "--auth", "none",
		"--base-url", "https://"+addr+"/fhir")
	srv.Env, srv.Stdout, srv.Stderr = env, log, log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	health := func(env []string) int {
		c := exec.Command(porticoBinary(t), "healthcheck")
		c.Env = env
		return exitCode(t, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for health(env) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck over HTTPS never passed:\n%s", log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := health([]string{"PORTICO_ADDR=" + addr}); code != 1 {
		t.Errorf("plain-HTTP healthcheck of an HTTPS server: exit %d, want 1", code)
	}

	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + addr + "/fhir/metadata")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("GET /fhir/metadata over HTTPS: %d, Strict-Transport-Security %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
}
