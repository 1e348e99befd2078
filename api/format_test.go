package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestFormats(t *testing.T) {
	s := newServer(t)
	id := s.create(`{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":1.50}}`)
	compact := s.do("GET", "/Observation/"+id, "").Body
	tests := []struct {
		name, query string
		hdr         []string
		status      int
		contentType string
		pretty      bool
	}{
		{"default", "", nil, 200, "application/fhir+json; charset=utf-8", false},
		{"Accept fhir+json", "", []string{"Accept", "application/fhir+json"}, 200, "application/fhir+json; charset=utf-8", false},
		{"Accept json", "", []string{"Accept", "application/json"}, 200, "application/json; charset=utf-8", false},
		{"Accept with fhirVersion", "", []string{"Accept", "application/fhir+json; fhirVersion=4.0"}, 200, "application/fhir+json; charset=utf-8", false},
		{"Accept XML", "", []string{"Accept", "application/fhir+xml"}, 406, "", false},
		{"_format json overrides Accept", "?_format=json", []string{"Accept", "application/fhir+xml"}, 200, "application/fhir+json; charset=utf-8", false},
		{"_format with unencoded +", "?_format=application/fhir+json", nil, 200, "application/fhir+json; charset=utf-8", false},
		{"_format xml", "?_format=xml", nil, 406, "", false},
		{"_pretty", "?_pretty=true", nil, 200, "application/fhir+json; charset=utf-8", true},
		{"_pretty false", "?_pretty=false", nil, 200, "application/fhir+json; charset=utf-8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do("GET", "/Observation/"+id+tt.query, "", tt.hdr...)
			if tt.status != 200 {
				wantOutcome(t, r, tt.status, "not-supported")
				return
			}
			wantStatus(t, r, 200)
			if ct := r.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if tt.pretty {
				if !strings.Contains(string(r.Body), "\n  \"status\": \"final\"") || !strings.Contains(string(r.Body), `"value": 1.50`) {
					t.Errorf("not indented, or decimal lost:\n%s", r.Body)
				}
				if withoutServerMeta(t, r.Body) != withoutServerMeta(t, compact) {
					t.Errorf("pretty output differs in content")
				}
			} else if string(r.Body) != string(compact) {
				t.Errorf("body %s, want the stored bytes %s", r.Body, compact)
			}
		})
	}
	t.Run("errors honour _pretty", func(t *testing.T) {
		r := s.do("GET", "/Observation/nope?_pretty=true", "")
		wantOutcome(t, r, http.StatusNotFound, "not-found")
		if !strings.Contains(string(r.Body), "\n  ") {
			t.Errorf("not indented: %s", r.Body)
		}
	})
	t.Run("history honours _pretty", func(t *testing.T) {
		r := s.do("GET", "/Observation/"+id+"/_history?_pretty=true", "")
		wantStatus(t, r, 200)
		if !strings.Contains(string(r.Body), "\n  \"type\": \"history\"") {
			t.Errorf("not indented: %s", r.Body)
		}
	})
	t.Run("Content-Type variants accepted on create", func(t *testing.T) {
		for _, ct := range []string{"application/fhir+json", "application/json", "application/fhir+json; charset=utf-8", "application/json;charset=UTF-8", "application/fhir+json; fhirVersion=4.0"} {
			r := s.do("POST", "/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"t"}}`, "Content-Type", ct)
			if r.StatusCode != 201 {
				t.Errorf("%s: %d %s", ct, r.StatusCode, r.Body)
			}
		}
	})
}
