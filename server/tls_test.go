package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/testcert"
)

// TestTLS: with --tls-cert and --tls-key Portico serves HTTPS (HTTP/2 offered), sends
// Strict-Transport-Security because the base URL is https, and serves a renewed certificate
// without a restart; a renewal that does not load keeps the previous certificate; bad files
// stop start-up.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.Write(t, certFile, keyFile, "first")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.DataDir, cfg.Auth = t.TempDir(), AuthNone
	cfg.BaseURL = "https://" + ln.Addr().String() + "/fhir"
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	get := func() (*http.Response, error) {
		// The client trusts whatever is served; the test reads which certificate it was.
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(cfg.BaseURL + "/metadata")
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	resp, err := get()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "first" {
		t.Fatalf("HTTPS metadata: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2 over TLS", resp.Proto)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security %q, want max-age=31536000", h)
	}

	expire := func() { // as if certCheckInterval had passed
		srv.certs.mu.Lock()
		srv.certs.checked = time.Time{}
		srv.certs.mu.Unlock()
	}
	testcert.Write(t, certFile, keyFile, "renewed")
	expire()
	if resp, err = get(); err != nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "renewed" {
		t.Fatalf("after renewal: %v, want the renewed certificate", err)
	}
	if err := os.WriteFile(keyFile, []byte("half-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	expire()
	if resp, err = get(); err != nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "renewed" {
		t.Fatalf("after a bad renewal: %v, want the previous certificate still served", err)
	}

	bad := Defaults()
	bad.DataDir, bad.TLSCert, bad.TLSKey = t.TempDir(), certFile, keyFile // the key is now junk
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "tls-cert") {
		t.Errorf("Validate with a bad key: %v", err)
	}
	bad.TLSKey = ""
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "both or neither") {
		t.Errorf("Validate with a certificate and no key: %v", err)
	}
}

// TestPlainHTTPWarning: a plain-http base URL on a host other than this machine is warned
// about at start; loopback is not. No HSTS over plain http.
func TestPlainHTTPWarning(t *testing.T) {
	for base, warn := range map[string]bool{
		"http://portico.example.org/fhir":  true,
		"http://localhost:8080/fhir":       false,
		"http://127.0.0.1:8080/fhir":       false,
		"https://portico.example.org/fhir": false,
	} {
		logs := &lockedBuffer{}
		warnPlainHTTP(base, slog.New(slog.NewJSONHandler(logs, nil)))
		if got := strings.Contains(logs.String(), "plain http"); got != warn {
			t.Errorf("%s: warned %v, want %v", base, got, warn)
		}
	}
	if hsts("http://portico.example.org/fhir", time.Hour) != nil {
		t.Error("HSTS over plain http")
	}
	if hsts("https://portico.example.org/fhir", 0) != nil {
		t.Error("HSTS with --hsts-max-age 0")
	}
}

// TestMaxBundleEntries: --max-bundle-entries reaches the API (413 above it).
func TestMaxBundleEntries(t *testing.T) {
	en := newAuthEnvWith(t, func(c *Config) { c.MaxBundleEntries = 2 })
	tok := en.systemToken("system/*.cruds")
	entry := `{"request":{"method":"GET","url":"Patient"}}`
	for n, want := range map[int]int{2: http.StatusOK, 3: http.StatusRequestEntityTooLarge} {
		body := `{"resourceType":"Bundle","type":"batch","entry":[` + strings.TrimSuffix(strings.Repeat(entry+",", n), ",") + `]}`
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, en.base, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("batch of %d with the limit 2: %d, want %d", n, resp.StatusCode, want)
		}
	}
}
