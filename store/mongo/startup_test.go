package mongo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/server/servertest"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/mongo"
)

// lockedBuffer collects log output written from the retry goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRetrySetupUnreachable: with RetrySetup, Open on an unreachable deployment returns a store
// that is not ready (every operation ErrUnavailable), logs the host but never the password,
// keeps retrying, and stops retrying at Close.
func TestRetrySetupUnreachable(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	start := time.Now()
	s, err := mongo.Open(t.Context(), mongo.Config{
		URI:            "mongodb://portico:s3cret-pw@127.0.0.1:1/db?serverSelectionTimeoutMS=200",
		ConnectTimeout: time.Second, RetrySetup: true, Logger: log,
	})
	if err != nil {
		t.Fatalf("Open with RetrySetup: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v", d)
	}
	if s.Ready() || s.Transactions() {
		t.Error("store ready (or transactional) although MongoDB never answered")
	}
	if _, err := s.Read(t.Context(), "Patient", "p"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Read: %v, want ErrUnavailable", err)
	}
	w := store.Write{Op: store.OpCreate, Type: "Patient", ID: "p", Version: 1, LastUpdated: time.Now(), Body: []byte(`{}`)}
	if err := s.Write(t.Context(), w); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Write: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping: %v, want ErrUnavailable", err)
	}
	// 200 ms per attempt and 125-250 ms, 250-500 ms, ... between them: a few retries in 2 s.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), "still unreachable") < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	out := logs.String()
	if strings.Count(out, "still unreachable") < 2 {
		t.Errorf("fewer than 2 retries logged in 10 s:\n%s", out)
	}
	if !strings.Contains(out, "MongoDB unreachable at start") || !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("the log does not name the unreachable host:\n%s", out)
	}
	if strings.Contains(out, "s3cret-pw") {
		t.Errorf("the log contains the password:\n%s", out)
	}

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s while retrying")
	}
	if err := s.WaitReady(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("WaitReady after Close: %v, want ErrUnavailable", err)
	}
}

// TestRetrySetupRecovers: a store opened while nothing listens becomes ready, without being
// reopened, once MongoDB is started, and then reads and writes.
func TestRetrySetupRecovers(t *testing.T) {
	if !javaServer {
		t.Skip("needs the Java server (started late on a chosen port): PORTICO_TEST_MONGODB_URI is set or the jar is missing")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s, err := mongo.Open(t.Context(), mongo.Config{URI: fmt.Sprintf("mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=500", port),
		ConnectTimeout: time.Second, RetrySetup: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Ready() {
		t.Fatal("ready before MongoDB started")
	}
	startJavaServer(t, port)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once ready: %v", err)
	}
	w := store.Write{Op: store.OpCreate, Type: "Patient", ID: "late", Version: 1, LastUpdated: time.Now(), Body: []byte(`{"resourceType":"Patient"}`)}
	if err := s.Write(ctx, w); err != nil {
		t.Fatalf("Write once ready: %v", err)
	}
	if r, err := s.Read(ctx, "Patient", "late"); err != nil || r.Version != 1 {
		t.Fatalf("Read once ready: %+v %v", r, err)
	}
}

// TestOpenWithoutRetryFails: without RetrySetup an unreachable deployment still fails Open
// (the admin commands and the load tool's preload want an error, not a waiting store).
func TestOpenWithoutRetryFails(t *testing.T) {
	start := time.Now()
	_, err := mongo.Open(t.Context(), mongo.Config{URI: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200", ConnectTimeout: time.Second})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v", d)
	}
}

// TestServerStartsWithMongoDown runs server.New in process, with SMART authorization (which
// reads its signing keys from the store), on a MongoDB started only afterwards: the server
// answers 503 first, then builds the whole API once the store is ready.
func TestServerStartsWithMongoDown(t *testing.T) {
	if !javaServer {
		t.Skip("needs the Java server (started late on a chosen port): PORTICO_TEST_MONGODB_URI is set or the jar is missing")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()

	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store = fmt.Sprintf("mongodb://127.0.0.1:%d/portico_late?serverSelectionTimeoutMS=500", port)
	ts, _ := servertest.Start(t, cfg) // server.New must not fail with MongoDB down
	get := func(path string) int {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503, "/fhir/metadata": 503, "/fhir/Patient": 503} {
		if got := get(path); got != want {
			t.Errorf("GET %s with MongoDB down: %d, want %d", path, got, want)
		}
	}
	startJavaServer(t, port)
	deadline := time.Now().Add(60 * time.Second)
	for get("/fhir/metadata") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/fhir/metadata not 200 within 60 s of MongoDB starting")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The SMART server is in place: no token, 401.
	for path, want := range map[string]int{"/readyz": 200, "/fhir/Patient": 401, "/fhir/.well-known/smart-configuration": 200} {
		if got := get(path); got != want {
			t.Errorf("GET %s once MongoDB answers: %d, want %d", path, got, want)
		}
	}
}
