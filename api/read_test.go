package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const patientJSON = `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"1"}],"name":[{"family":"Doe"}],"birthDate":"1970-01-01"}`

func TestRead(t *testing.T) {
	s := newServer(t)
	id := s.create(patientJSON)
	v2 := s.do("PUT", "/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","name":[{"family":"Roe"}]}`)
	wantStatus(t, v2, http.StatusOK)
	gone := s.create(patientJSON)
	wantStatus(t, s.do("DELETE", "/Patient/"+gone, ""), http.StatusNoContent)

	tests := []struct {
		name, path string
		status     int
		etag       string
		family     string // expected name[0].family of a 200
		code       string // expected issue code of an error
	}{
		{"read current", "/Patient/" + id, 200, `W/"2"`, "Roe", ""},
		{"vread 1", "/Patient/" + id + "/_history/1", 200, `W/"1"`, "Doe", ""},
		{"vread 2", "/Patient/" + id + "/_history/2", 200, `W/"2"`, "Roe", ""},
		{"vread unknown version", "/Patient/" + id + "/_history/3", 404, "", "", "not-found"},
		{"vread version zero", "/Patient/" + id + "/_history/0", 404, "", "", "not-found"},
		{"vread non-numeric version", "/Patient/" + id + "/_history/abc", 404, "", "", "not-found"},
		{"unknown id", "/Patient/nope", 404, "", "", "not-found"},
		{"id of another type", "/Observation/" + id, 404, "", "", "not-found"},
		{"unknown type", "/Patients/" + id, 404, "", "", "not-found"},
		{"lower-case type", "/patient/" + id, 404, "", "", "not-found"},
		{"bad id", "/Patient/a_b", 400, "", "", "invalid"},
		{"id too long", "/Patient/" + strings.Repeat("a", 65), 400, "", "", "invalid"},
		{"deleted", "/Patient/" + gone, 410, `W/"2"`, "", "deleted"},
		{"vread of the tombstone", "/Patient/" + gone + "/_history/2", 410, `W/"2"`, "", "deleted"},
		{"vread before the delete", "/Patient/" + gone + "/_history/1", 200, `W/"1"`, "Doe", ""},
		{"no such endpoint", "/Patient/" + id + "/_history/1/x", 404, "", "", "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do("GET", tt.path, "")
			if tt.status != 200 {
				wantOutcome(t, r, tt.status, tt.code)
			} else {
				wantStatus(t, r, 200)
				if ct := r.Header.Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				if f := jsonFamily(t, r.Body); f != tt.family {
					t.Errorf("family %q, want %q", f, tt.family)
				}
				if _, err := http.ParseTime(r.Header.Get("Last-Modified")); err != nil {
					t.Errorf("Last-Modified %q: %v", r.Header.Get("Last-Modified"), err)
				}
			}
			if got := r.Header.Get("ETag"); got != tt.etag {
				t.Errorf("ETag %q, want %q", got, tt.etag)
			}
		})
	}
}

func jsonFamily(t *testing.T, b []byte) string {
	t.Helper()
	v := parse(t, b)
	return v.Get("name").Arr[0].Get("family").Text
}

func TestReadHeaders(t *testing.T) {
	s := newServer(t)
	id := s.create(patientJSON)
	first := s.do("GET", "/Patient/"+id, "")
	lastMod, err := http.ParseTime(first.Header.Get("Last-Modified"))
	if err != nil {
		t.Fatal(err)
	}
	lastUpdated, err := time.Parse(time.RFC3339, jsonString(t, first.Body, "meta", "lastUpdated"))
	if err != nil {
		t.Fatal(err)
	}
	if !lastMod.Equal(lastUpdated.Truncate(time.Second)) {
		t.Errorf("Last-Modified %v does not match meta.lastUpdated %v", lastMod, lastUpdated)
	}
	tests := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"If-None-Match current", []string{"If-None-Match", `W/"1"`}, 304},
		{"If-None-Match strong form", []string{"If-None-Match", `"1"`}, 304},
		{"If-None-Match list", []string{"If-None-Match", `W/"7", W/"1"`}, 304},
		{"If-None-Match star", []string{"If-None-Match", `*`}, 304},
		{"If-None-Match other", []string{"If-None-Match", `W/"2"`}, 200},
		{"If-None-Match malformed", []string{"If-None-Match", `1`}, 400},
		{"If-Modified-Since later", []string{"If-Modified-Since", lastMod.Add(time.Hour).Format(http.TimeFormat)}, 304},
		{"If-Modified-Since same second", []string{"If-Modified-Since", lastMod.Format(http.TimeFormat)}, 304},
		{"If-Modified-Since earlier", []string{"If-Modified-Since", lastMod.Add(-time.Second).Format(http.TimeFormat)}, 200},
		{"If-Modified-Since invalid is ignored", []string{"If-Modified-Since", "yesterday"}, 200},
		{"If-None-Match wins over If-Modified-Since", []string{"If-None-Match", `W/"2"`, "If-Modified-Since", lastMod.Add(time.Hour).Format(http.TimeFormat)}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do("GET", "/Patient/"+id, "", tt.hdr...)
			if tt.status == 400 {
				wantOutcome(t, r, 400, "invalid")
				return
			}
			wantStatus(t, r, tt.status)
			if r.Header.Get("ETag") != `W/"1"` {
				t.Errorf("ETag %q", r.Header.Get("ETag"))
			}
			if tt.status == 304 && len(r.Body) != 0 {
				t.Errorf("304 with a body: %s", r.Body)
			}
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		r := s.do("HEAD", "/Patient/"+id, "")
		wantStatus(t, r, 200)
		if r.Header.Get("ETag") != `W/"1"` || len(r.Body) != 0 {
			t.Errorf("HEAD: ETag %q, body %q", r.Header.Get("ETag"), r.Body)
		}
		if r := s.do("HEAD", "/Patient/nope", ""); r.StatusCode != 404 || len(r.Body) != 0 {
			t.Errorf("HEAD of unknown: %d %q", r.StatusCode, r.Body)
		}
	})
}
