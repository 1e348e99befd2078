package api_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// BenchmarkRead measures a read through Echo and the API in process (no network): the cost
// of routing, negotiation, the store read and writing the stored bytes.
func BenchmarkRead(b *testing.B) {
	s := newServer(b)
	data, err := os.ReadFile("testdata/observation.json")
	if err != nil {
		b.Fatal(err)
	}
	id := s.create(string(data))
	for _, bc := range []struct{ name, query, accept string }{
		{"plain", "", ""},
		{"accept", "", "application/fhir+json"},
		{"pretty", "?_pretty=true", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/fhir/Observation/"+id+bc.query, nil)
			if bc.accept != "" {
				req.Header.Set("Accept", bc.accept)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				s.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
