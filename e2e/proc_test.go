package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// porticoBinary builds the `portico` command of this repository once per test binary.
func porticoBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "portico-e2e-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "portico")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = ".." // the repository root, where main.go is
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is one running `portico serve`.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	base   string // http://ADDR/fhir
	log    *syncBuffer
	exited chan struct{}
	err    error // the Wait result, once exited is closed
}

// startPortico runs `portico serve` on addr with dataDir and waits until /readyz answers.
func startPortico(t testing.TB, addr, dataDir string) *proc {
	t.Helper()
	return startServe(t, addr, "/readyz", "--data-dir", dataDir, "--log-level", "warn",
		"--auth", "none") // these tests are about crash safety and shutdown, not authorization
}

// startServe runs `portico serve --addr addr --base-url http://addr/fhir ARGS`, stops it when
// the test ends (printing its output if the test failed), and waits up to 30 s until path
// (/readyz or /healthz) answers 200.
func startServe(t testing.TB, addr, path string, args ...string) *proc {
	t.Helper()
	base := "http://" + addr + "/fhir"
	p := &proc{t: t, base: base, log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(porticoBinary(t), append([]string{"serve", "--addr", addr, "--base-url", base}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("portico serve (%s) output:\n%s", addr, p.log.String())
		}
	})
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("portico serve exited before %s answered: %v\n%s", path, p.err, p.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if resp, err := c.Get("http://" + addr + path); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
	}
	t.Fatalf("portico serve: %s not 200 within 30 s\n%s", path, p.log.String())
	return nil
}

// kill sends SIGKILL and waits for the process to die.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// terminate sends SIGTERM.
func (p *proc) terminate() {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *proc) wait(ctx context.Context, d time.Duration) (int, error) {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(d):
		return -1, fmt.Errorf("still running after %v", d)
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// syncBuffer is a bytes.Buffer safe for the child's output and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
