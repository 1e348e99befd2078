// Package mongojava starts mongo-java-server (tools/mongo-java-server), the MongoDB
// wire-protocol server that Portico's tests run against where no mongod can be installed. The
// launcher prints "mongo-java-server ready HOST:PORT" once it listens and exits when its
// standard input closes, so a test that dies cannot leave it behind.
package mongojava

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Jar is where .ci/run builds the server, relative to the repository root.
const Jar = "tools/mongo-java-server/target/mongo-java-server.jar"

// Unavailable says why the server cannot run here: the jar at jar is missing or java is not
// on PATH. "" when it can.
func Unavailable(jar string) string {
	if _, err := os.Stat(jar); err != nil {
		return jar + " is missing (build it with: mvn -q -f tools/mongo-java-server/pom.xml package)"
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "java is not on PATH (mongo-java-server needs Java 17)"
	}
	return ""
}

// Server is a running mongo-java-server.
type Server struct {
	Addr  string // HOST:PORT it listens on
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{}
}

// Start runs the server from jar on port (0: any free port) and waits up to a minute until it
// listens. Its log goes to the test's stderr.
func Start(jar string, port int) (*Server, error) {
	cmd := exec.Command("java", "-jar", jar, fmt.Sprint(port))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting mongo-java-server: %w", err)
	}
	s := &Server{cmd: cmd, stdin: stdin, done: make(chan struct{})}
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
		_, _ = io.Copy(io.Discard, out) // until it exits; only then may Wait close the pipe
		_ = cmd.Wait()
		close(s.done)
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			s.Stop()
			return nil, errors.New("mongo-java-server exited before it was ready")
		}
		s.Addr = addr
		return s, nil
	case <-time.After(60 * time.Second):
		s.Stop()
		return nil, errors.New("mongo-java-server was not ready after 60 s")
	}
}

// Stop closes the server's standard input, so that it exits, and waits for it (killing it
// after 10 s). It may be called more than once.
func (s *Server) Stop() {
	_ = s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
