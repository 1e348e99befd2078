package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

// TestReadyzWhenTheStoreCannotWrite: /readyz answers 503 while the embedded store cannot write
// and 200 again once it can, without a restart; the answer is cached between checks. The store
// is made unable to write by lowering the process's file size limit (RLIMIT_FSIZE) to one
// byte, which fails every write into its files as a full disk would. The limit is the whole
// process's: the test must not run in parallel with others.
func TestReadyzWhenTheStoreCannotWrite(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir, cfg.Auth, cfg.Triage = t.TempDir(), AuthNone, false
	var logs lockedBuffer
	srv, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get(hs.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	expire := func() { // as if the cached answer were older than its period
		srv.writes.mu.Lock()
		srv.writes.until = srv.writes.until.AddDate(-1, 0, 0)
		srv.writes.mu.Unlock()
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz at start: %d %s", code, body)
	}

	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	low := limit
	low.Cur = 1
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &low); err != nil {
		t.Fatal(err)
	}
	cached, _ := readyz()
	expire()
	failing, body := readyz()
	post, err := http.Post(hs.URL+"/fhir/Patient", "application/fhir+json", strings.NewReader(`{"resourceType":"Patient"}`))
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if cached != http.StatusOK {
		t.Errorf("/readyz within the period of a good answer: %d, want the cached 200", cached)
	}
	if failing != http.StatusServiceUnavailable || body != "store cannot write\n" {
		t.Errorf("/readyz while no file can grow: %d %q, want 503", failing, body)
	}
	if post.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a create while no file could grow: %d, want 503", post.StatusCode)
	}
	if !strings.Contains(logs.String(), "the store cannot write") {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}

	expire()
	if code, body := readyz(); code != http.StatusOK {
		t.Errorf("/readyz once the store can write again: %d %s", code, body)
	}
	if n := bytes.Count([]byte(logs.String()), []byte("the store can write again")); n != 1 {
		t.Errorf("%d log lines about the recovery, want 1", n)
	}
}
