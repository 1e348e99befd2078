package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portico-health/portico/server"
)

// target is a server under load: its base URL, the process it runs in, and how to stop it.
type target struct {
	base   string // e.g. http://127.0.0.1:40123
	pid    int
	stop   func() error
	bearer string // Authorization header value for the FHIR API ("" when open)
}

// buildPortico builds the `portico` command of the repository into dir.
func buildPortico(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "portico")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build portico: %w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startPortico starts Portico with its real configuration (server.Defaults, as `portico
// serve` has it, with --auth and --store from the options) on a loopback port: the built binary as a child process, or server.New in
// this process (--server inproc). Its request log goes to logFile.
func startPortico(ctx context.Context, o *options, bin, dataDir, logFile string) (*target, error) {
	if o.server == "inproc" {
		return startPorticoInProc(ctx, o, dataDir, logFile)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	// The load measures capacity: the API's rate limits, which would cap it, are off.
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir, "--base-url", "http://" + addr + "/fhir", "--auth", o.auth,
		"--rate-limit-address", "0", "--rate-limit-client", "0", "--rate-limit-writes", "0", "--rate-limit-index-entries", "0", "--client-concurrency", "0"}
	if o.store != "" {
		args = append(args, "--store", o.store)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t := &target{base: "http://" + addr, pid: cmd.Process.Pid, stop: func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("portico serve after SIGTERM: %w (log: %s)", err, logFile)
			}
			return nil
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("portico serve did not stop within 30 s of SIGTERM")
		}
	}}
	if err := waitReady(ctx, t.base, exited); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%w (log: %s)", err, logFile)
	}
	return t, nil
}

func startPorticoInProc(ctx context.Context, o *options, dataDir, logFile string) (*target, error) {
	logf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, logf.Close())
	}
	cfg := server.Defaults()
	cfg.Addr, cfg.DataDir, cfg.Store, cfg.Auth = ln.Addr().String(), dataDir, o.store, o.auth
	cfg.BaseURL = "http://" + cfg.Addr + "/fhir"
	cfg.RateLimitAddress, cfg.RateLimitClient, cfg.RateLimitWrites, cfg.RateLimitIndexEntries, cfg.ClientConcurrency = 0, 0, 0, 0, 0 // as in startPortico
	srv, err := server.New(ctx, cfg, slog.New(slog.NewJSONHandler(logf, nil)))
	if err != nil {
		return nil, errors.Join(err, ln.Close(), logf.Close())
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go pprof.Do(sctx, pprof.Labels("side", "server"), func(sctx context.Context) {
		done <- srv.Serve(sctx, ln)
	})
	t := &target{base: "http://" + cfg.Addr, pid: os.Getpid(), stop: func() error {
		cancel()
		return errors.Join(<-done, logf.Close())
	}}
	return t, waitReady(ctx, t.base, done)
}

// waitReady polls /readyz for up to 30 s; exited reports a server that stopped meanwhile.
func waitReady(ctx context.Context, base string, exited <-chan error) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("server exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := c.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("server not ready within 30 s")
}

// memStatus is a process's memory from /proc/PID/status, in bytes: resident (VmRSS) and its
// peak (VmHWM), and the resident parts: anonymous memory (Go heap, stacks and the C-side
// allocations of the SQLite driver such as its page caches), file mappings, shared memory
// (SQLite's -shm wal-index).
type memStatus struct{ rss, hwm, anon, file, shmem int64 }

func readMem(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	var m memStatus
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		case "RssShmem":
			m.shmem = kb << 10
		}
	}
	return m, sc.Err()
}

func (m memStatus) String() string {
	return fmt.Sprintf("%.0f MB (anon %.0f, file %.0f, shmem %.0f)", float64(m.rss)/1e6,
		float64(m.anon)/1e6, float64(m.file)/1e6, float64(m.shmem)/1e6)
}

// memWatch samples a process's memory every 100 ms and keeps the largest sample.
type memWatch struct {
	stop chan struct{}
	done chan memStatus
}

func watchMem(pid int) *memWatch {
	w := &memWatch{stop: make(chan struct{}), done: make(chan memStatus, 1)}
	go func() {
		var peak memStatus
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := readMem(pid); err == nil && m.rss > peak.rss {
				peak = m
			}
			select {
			case <-w.stop:
				w.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// peak stops the watch and returns the largest sample.
func (w *memWatch) peak() memStatus {
	close(w.stop)
	return <-w.done
}
