package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkServerRead measures a read through the whole handler a server builds (client
// address, request id, request log, metrics, the FHIR API) in process, without the network:
// what the middleware adds to api's BenchmarkRead. "metrics" is the default configuration,
// "no-metrics" --metrics=false.
func BenchmarkServerRead(b *testing.B) {
	for _, bc := range []struct {
		name    string
		metrics bool
	}{{"metrics", true}, {"no-metrics", false}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Defaults()
			cfg.DataDir, cfg.Auth, cfg.Triage, cfg.SQLiteSync, cfg.Metrics = b.TempDir(), AuthNone, false, "normal", bc.metrics
			srv, err := New(b.Context(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })
			h := srv.Handler()
			w := httptest.NewRecorder()
			create := httptest.NewRequest("POST", "/fhir/Patient", strings.NewReader(`{"resourceType":"Patient","name":[{"family":"Chalmers"}]}`))
			create.Header.Set("Content-Type", "application/fhir+json")
			h.ServeHTTP(w, create)
			if w.Code != http.StatusCreated {
				b.Fatalf("create: %d %s", w.Code, w.Body)
			}
			loc := w.Header().Get("Location")
			path := loc[strings.Index(loc, "/fhir/"):]
			path = path[:strings.Index(path, "/_history")]
			req := httptest.NewRequest("GET", path, nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
