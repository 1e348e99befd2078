package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// prlimit sets a resource limit of another process (prlimit(2)); old receives the previous one.
func prlimit(pid, resource int, limit, old *syscall.Rlimit) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(resource),
		uintptr(unsafe.Pointer(limit)), uintptr(unsafe.Pointer(old)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// TestReadyzWhenWritesFail: /readyz of a running server answers 503 once its store cannot
// write, and `portico healthcheck` fails, then both recover without a restart. The server's
// file size limit (RLIMIT_FSIZE) is lowered to one byte from outside, which fails every write
// of SQLite into its files as a full disk does, while reads go on.
func TestReadyzWhenWritesFail(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	p := startServe(t, addr, "/readyz", "--data-dir", dir, "--auth", "none", "--log-level", "info")
	c := newClient(p.base)
	ctx := context.Background()
	if r, err := c.do(ctx, http.MethodPut, "Patient/p1", []byte(`{"resourceType":"Patient","id":"p1"}`)); err != nil || r.status != http.StatusCreated {
		t.Fatalf("PUT: %v %d", err, r.status)
	}
	readyz := func() int {
		r, err := c.do(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.status
	}
	waitReadyz := func(want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for readyz() != want {
			if time.Now().After(deadline) {
				t.Fatalf("/readyz did not answer %d within %v\n%s", want, within, p.log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	healthcheck := func() int {
		code, _, _ := runPortico(t, porticoBinary(t), nil, "healthcheck", "--addr", addr)
		return code
	}

	pid := p.cmd.Process.Pid
	var old syscall.Rlimit
	low := syscall.Rlimit{Cur: 1, Max: ^uint64(0)}
	if err := prlimit(pid, syscall.RLIMIT_FSIZE, nil, &old); err != nil {
		t.Fatal(err)
	}
	low.Max = old.Max
	if err := prlimit(pid, syscall.RLIMIT_FSIZE, &low, nil); err != nil {
		t.Fatal(err)
	}
	waitReadyz(http.StatusServiceUnavailable, 10*time.Second) // a good answer is kept for 5 s
	if code := healthcheck(); code != 1 {
		t.Errorf("portico healthcheck while the store cannot write: exit %d, want 1", code)
	}
	if r, err := c.do(ctx, http.MethodGet, "Patient/p1", nil); err != nil || r.status != http.StatusOK {
		t.Errorf("a read while the store cannot write: %v %d", err, r.status)
	}
	if r, err := c.do(ctx, http.MethodPut, "Patient/p2", []byte(`{"resourceType":"Patient","id":"p2"}`)); err != nil || r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "OperationOutcome") {
		t.Errorf("a write while the store cannot write: %v %d %s, want a 503 OperationOutcome", err, r.status, r.body)
	}

	if err := prlimit(pid, syscall.RLIMIT_FSIZE, &old, nil); err != nil {
		t.Fatal(err)
	}
	waitReadyz(http.StatusOK, 5*time.Second) // a failure is kept for 1 s
	if code := healthcheck(); code != 0 {
		t.Errorf("portico healthcheck once the store can write again: exit %d", code)
	}
	if r, err := c.do(ctx, http.MethodPut, "Patient/p2", []byte(`{"resourceType":"Patient","id":"p2"}`)); err != nil || r.status != http.StatusCreated {
		t.Errorf("a write once the store can write again: %v %d", err, r.status)
	}
	log := p.log.String()
	if !strings.Contains(log, "the store cannot write") || !strings.Contains(log, "the store can write again") {
		t.Errorf("the failure and the recovery were not logged:\n%s", log)
	}
	if n := strings.Count(log, "sqlite checkpoint failed"); n > 1 {
		t.Errorf("%d log lines of failed checkpoints in seconds, want at most one a minute", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "portico.db")); err != nil {
		t.Error(err)
	}
}
