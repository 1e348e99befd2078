package mongo_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/mongojava"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/mongo"
)

// startJavaServer starts a private mongo-java-server on port and returns its stop function.
func startJavaServer(t *testing.T, port int) func() {
	t.Helper()
	srv, err := mongojava.Start(jarPath, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv.Stop
}

// TestOutage checks that a deployment lost while serving gives ErrUnavailable (the api's 503)
// and that the same store recovers, without reopening, once the deployment is back.
func TestOutage(t *testing.T) {
	if !javaServer {
		t.Skip("needs the Java server (it is stopped and restarted): PORTICO_TEST_MONGODB_URI is set or the jar is missing")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	stop := startJavaServer(t, port)
	uri := fmt.Sprintf("mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=1000", port)
	s, err := mongo.Open(t.Context(), mongo.Config{URI: uri})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := store.Write{Op: store.OpCreate, Type: "Patient", ID: "p", Version: 1, LastUpdated: time.Now(), Body: []byte(`{}`)}
	if err := s.Write(t.Context(), w); err != nil {
		t.Fatal(err)
	}

	stop()
	if _, err := s.Read(t.Context(), "Patient", "p"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Read while down: err %v, want ErrUnavailable", err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping while down: err %v, want ErrUnavailable", err)
	}
	if err := s.CheckWrite(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CheckWrite while down: err %v, want ErrUnavailable", err)
	}

	startJavaServer(t, port) // an empty in-memory server: the data is gone, the store works again
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := s.Ping(t.Context())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping after the restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := s.Read(t.Context(), "Patient", "p"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read after the restart: err %v, want ErrNotFound (the memory server lost it)", err)
	}
	w.ID = "q"
	if err := s.Write(t.Context(), w); err != nil {
		t.Errorf("Write after the restart: %v", err)
	}
	if err := s.CheckWrite(t.Context()); err != nil {
		t.Errorf("CheckWrite after the restart: %v", err)
	}
}
