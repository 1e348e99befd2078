package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The MongoDB end-to-end tests run Portico binaries on mongo-java-server, the in-memory MongoDB
// wire-protocol server that .ci/run builds (tools/mongo-java-server), started and stopped here:
// the tests need a deployment they can start late, which PORTICO_TEST_MONGODB_URI cannot give.

const mongoJar = "../tools/mongo-java-server/target/mongo-java-server.jar"

// requireMongoJar skips the test when the Java server cannot run here, and fails it under
// CI=true, where .ci/run builds the jar and such a skip is unexpected.
func requireMongoJar(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := os.Stat(mongoJar); err != nil {
		why = mongoJar + " is missing (build it with: mvn -q -f tools/mongo-java-server/pom.xml package)"
	} else if _, err := exec.LookPath("java"); err != nil {
		why = "java is not on PATH (mongo-java-server needs Java 17)"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no MongoDB for the e2e tests: " + why + " (CI=true: an unexpected skip is a failure)")
	}
	t.Skip("no MongoDB for the e2e tests: " + why)
}

// startJavaMongo starts mongo-java-server on port (0: any free port) and returns its address.
// It stops when the test ends (the launcher exits when its stdin closes).
func startJavaMongo(t *testing.T, port int) string {
	t.Helper()
	cmd := exec.Command("java", "-jar", mongoJar, fmt.Sprint(port))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "mongo-java-server ready "); ok {
				ready <- addr
				break
			}
		}
		close(ready)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			t.Fatal("mongo-java-server exited before it was ready")
		}
		return addr
	case <-time.After(60 * time.Second):
		t.Fatal("mongo-java-server was not ready after 60 s")
	}
	return ""
}

// startPorticoMongo runs `portico serve --auth=none --store uri` on addr. It waits until the
// server listens (/healthz 200) and, if ready is set, until /readyz is 200 too.
func startPorticoMongo(t *testing.T, addr, uri string, ready bool) *proc {
	t.Helper()
	base := "http://" + addr + "/fhir"
	p := &proc{t: t, base: base, log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(porticoBinary(t), "serve", "--addr", addr, "--store", uri, "--base-url", base,
		"--data-dir", t.TempDir(), "--log-level", "info", "--auth", "none")
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
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("portico serve exited before it answered %s: %v\n%s", path, p.err, p.log.String())
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

// httpStatusOf is the status of a GET of an absolute URL, 0 when it could not be sent.
func httpStatusOf(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
