package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-health/portico/store"
)

// faultyStore is the real store whose Write fails with err (fault injection).
type faultyStore struct {
	store.Store
	err    error
	writes int
}

func (f *faultyStore) Write(ctx context.Context, w ...store.Write) error {
	f.writes++
	return f.err
}

// yieldingStore's searches are stopped for others' (store.ErrYielded), as a long search is on
// a busy SQLite store.
type yieldingStore struct{ store.Store }

func (y yieldingStore) Search(ctx context.Context, q store.Query) (store.Page, error) {
	return store.Page{}, fmt.Errorf("sqlite: search: %w: interrupted", store.ErrYielded)
}

// TestErrors checks every error status: an OperationOutcome with the status, and nothing
// written.
func TestErrors(t *testing.T) {
	s := newServer(t, func(o *options) { o.maxBody = 4096 })
	id := s.create(patientJSON)
	big := `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + strings.Repeat("x", 5000) + `</div>"}}`
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		code                     string
	}{
		{"bad JSON", "POST", "/Patient", `{"resourceType":"Patient",}`, nil, 400, "structure"},
		{"empty body", "POST", "/Patient", ``, []string{"Content-Type", "application/fhir+json"}, 400, "structure"},
		{"JSON array", "POST", "/Patient", `[]`, nil, 400, "structure"},
		{"duplicate member", "POST", "/Patient", `{"resourceType":"Patient","active":true,"active":false}`, nil, 400, "structure"},
		{"resourceType differs from URL", "POST", "/Patient", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, nil, 400, "invalid"},
		{"PUT id differs from URL", "PUT", "/Patient/" + id, `{"resourceType":"Patient","id":"other"}`, nil, 400, "invalid"},
		{"PUT without id", "PUT", "/Patient/" + id, `{"resourceType":"Patient"}`, nil, 400, "invalid"},
		{"PUT bad id in URL", "PUT", "/Patient/a%20b", `{"resourceType":"Patient","id":"a b"}`, nil, 400, "invalid"},
		{"PUT resourceType differs", "PUT", "/Observation/" + id, `{"resourceType":"Patient","id":"` + id + `"}`, nil, 400, "invalid"},
		{"wrong JSON type", "POST", "/Patient", `{"resourceType":"Patient","gender":1}`, nil, 400, "structure"},
		{"invalid content", "POST", "/Patient", `{"resourceType":"Patient","gender":"martian"}`, nil, 422, ""},
		{"unknown type", "POST", "/Foo", `{"resourceType":"Foo"}`, nil, 404, "not-found"},
		{"POST on an instance", "POST", "/Patient/" + id, `{"resourceType":"Patient"}`, nil, 405, "not-supported"},
		{"unknown method", "FOO", "/Patient/" + id, ``, nil, 405, "not-supported"},
		{"PUT on a type without criteria", "PUT", "/Patient", `{"resourceType":"Patient"}`, nil, 405, "not-supported"},
		{"DELETE on a type without criteria", "DELETE", "/Patient", ``, nil, 405, "not-supported"},
		{"Accept XML", "GET", "/Patient/" + id, ``, []string{"Accept", "application/fhir+xml"}, 406, "not-supported"},
		{"_format xml", "GET", "/Patient/" + id + "?_format=xml", ``, nil, 406, "not-supported"},
		{"_format xml on create", "POST", "/Patient?_format=xml", `{"resourceType":"Patient"}`, nil, 406, "not-supported"},
		{"If-Match stale", "PUT", "/Patient/" + id, `{"resourceType":"Patient","id":"` + id + `"}`, []string{"If-Match", `W/"9"`}, 412, "conflict"},
		{"If-Match malformed", "PUT", "/Patient/" + id, `{"resourceType":"Patient","id":"` + id + `"}`, []string{"If-Match", `9`}, 400, "invalid"},
		{"If-None-Match star on existing", "PUT", "/Patient/" + id, `{"resourceType":"Patient","id":"` + id + `"}`, []string{"If-None-Match", `*`}, 412, "conflict"},
		{"body too large", "POST", "/Patient", big, nil, 413, "too-costly"},
		{"XML body", "POST", "/Patient", `<Patient xmlns="http://hl7.org/fhir"/>`, []string{"Content-Type", "application/fhir+xml"}, 415, "not-supported"},
		{"no Content-Type", "POST", "/Patient", `{"resourceType":"Patient"}`, []string{"Content-Type", ""}, 415, "not-supported"},
		{"text/plain", "PUT", "/Patient/" + id, `{"resourceType":"Patient","id":"` + id + `"}`, []string{"Content-Type", "text/plain"}, 415, "not-supported"},
		{"latin-1", "POST", "/Patient", `{"resourceType":"Patient"}`, []string{"Content-Type", "application/fhir+json; charset=iso-8859-1"}, 415, "not-supported"},
		{"JSON Patch body on PUT", "PUT", "/Patient/" + id, `[]`, []string{"Content-Type", "application/json-patch+json"}, 415, "not-supported"},
		{"no such endpoint", "GET", "/Patient/" + id + "/x/y/z", ``, nil, 404, "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.versions()
			r := s.do(tt.method, tt.path, tt.body, tt.hdr...)
			if tt.method == "FOO" {
				wantStatus(t, r, tt.status)
			} else {
				wantOutcome(t, r, tt.status, tt.code)
			}
			if n := s.versions(); n != before {
				t.Errorf("the failed request wrote %d versions", n-before)
			}
		})
	}
	t.Run("405 names the allowed methods", func(t *testing.T) {
		r := s.do("POST", "/Patient/"+id, `{"resourceType":"Patient"}`)
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, "PUT") {
			t.Errorf("Allow %q", allow)
		}
		r = s.do("PUT", "/Patient", `{"resourceType":"Patient"}`)
		if allow := r.Header.Get("Allow"); allow != "POST" {
			t.Errorf("Allow %q on PUT without criteria", allow)
		}
	})
}

// TestBodyLimit: a body over MaxBodyBytes is refused with 413 whether it declares its length
// or is chunked.
func TestBodyLimit(t *testing.T) {
	s := newServer(t, func(o *options) { o.maxBody = 1024 })
	body := `{"resourceType":"Patient","name":[{"text":"` + strings.Repeat("x", 4<<20) + `"}]}`
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			var rd io.Reader = strings.NewReader(body)
			if chunked {
				rd = io.MultiReader(rd) // hides the length: the client sends chunks
			}
			req, _ := http.NewRequestWithContext(t.Context(), "POST", s.URL+"/Patient", rd)
			req.Header.Set("Content-Type", "application/fhir+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			wantOutcome(t, response{resp, b}, http.StatusRequestEntityTooLarge, "too-costly")
			if s.versions() != 0 {
				t.Error("something was written")
			}
		})
	}
}

func TestStoreErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"unavailable", fmt.Errorf("disk gone: %w", store.ErrUnavailable), 503, "transient"},
		{"too large", store.ErrTooLarge, 413, "too-costly"},
		{"conflict after retries", store.ErrVersionConflict, 409, "conflict"},
		{"unknown failure", errors.New(`sqlite: write Patient/x: "secret failure text"`), 500, "exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs *faultyStore
			s := newServer(t, func(o *options) {
				o.wrap = func(st store.Store) store.Store { fs = &faultyStore{Store: st, err: tt.err}; return fs }
			})
			r := s.do("PUT", "/Patient/x", `{"resourceType":"Patient","id":"x"}`)
			wantOutcome(t, r, tt.status, tt.code)
			if strings.Contains(string(r.Body), "secret") || strings.Contains(s.logs.String(), "secret") {
				t.Errorf("the internal error text leaked: %s / %s", r.Body, s.logs.String())
			}
			// A 5xx logs its cause with identifiers and quotes redacted.
			if tt.status == 500 && !strings.Contains(s.logs.String(), `sqlite: write Patient/…: \"…\"`) {
				t.Errorf("the redacted cause is not logged: %s", s.logs.String())
			}
			if tt.status == 409 && fs.writes < 2 {
				t.Errorf("a version conflict was not retried (%d writes)", fs.writes)
			}
		})
	}
	t.Run("a search that yielded", func(t *testing.T) {
		s := newServer(t, func(o *options) {
			o.wrap = func(st store.Store) store.Store { return yieldingStore{st} }
		})
		r := s.do("GET", "/Patient?name=x", "")
		wantOutcome(t, r, http.StatusServiceUnavailable, "too-costly")
		if r.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	})
	t.Run("closed store", func(t *testing.T) {
		s := newServer(t)
		id := s.create(patientJSON)
		_ = s.Store.Close()
		wantOutcome(t, s.do("GET", "/Patient/"+id, ""), http.StatusServiceUnavailable, "transient")
	})
}

// TestLogsHoldNoPHI: failed requests log the status, issue codes and request id; never the
// content of the resource or the diagnostics that quote it.
func TestLogsHoldNoPHI(t *testing.T) {
	s := newServer(t)
	const phi = "Zebediah-Quux"
	s.do("POST", "/Observation", `{"resourceType":"Patient","name":[{"family":"`+phi+`"}]}`)
	s.do("PUT", "/Patient/"+phi, `{"resourceType":"Patient","id":"other","name":[{"family":"`+phi+`"}]}`)
	s.do("POST", "/Patient", `{"resourceType":"Patient","gender":"`+phi+`"}`)
	s.do("GET", "/Patient/"+phi, "", "X-Request-Id", "req-123")
	logs := s.logs.String()
	if strings.Contains(logs, phi) {
		t.Errorf("logs hold PHI:\n%s", logs)
	}
	if !strings.Contains(logs, "request_id=req-123") || !strings.Contains(logs, "status=404") {
		t.Errorf("logs lack the request id or status:\n%s", logs)
	}
}
