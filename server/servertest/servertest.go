// Package servertest runs a real Portico (server.New, with all of its wiring) on a loopback
// httptest server, for the tests of other packages.
package servertest

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/portico-health/portico/server"
)

// Start builds Portico from cfg with BaseURL set to the test server's own address, serves it,
// and closes both when the test ends. It returns the test server and the FHIR base URL. The
// listener opens first: the base URL must be known before the server is built (Location
// headers and the CapabilityStatement carry it). Warnings and errors go to the test's output.
func Start(t testing.TB, cfg server.Config) (*httptest.Server, string) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String() + "/fhir"
	cfg.BaseURL = base
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := server.New(t.Context(), cfg, log)
	if err != nil {
		ts.Close()
		t.Fatalf("server.New: %v", err)
	}
	ts.Config.Handler = s.Handler()
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return ts, base
}
