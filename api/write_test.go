package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestCreate(t *testing.T) {
	s := newServer(t)
	t.Run("server assigns a UUID and ignores the body id", func(t *testing.T) {
		r := s.do("POST", "/Patient", `{"resourceType":"Patient","id":"client-chosen","active":true}`)
		wantStatus(t, r, http.StatusCreated)
		id := jsonString(t, r.Body, "id")
		if id == "client-chosen" || len(id) != 36 {
			t.Errorf("id %q, want a server-assigned UUID", id)
		}
		if loc, want := r.Header.Get("Location"), s.URL+"/Patient/"+id+"/_history/1"; loc != want {
			t.Errorf("Location %q, want %q", loc, want)
		}
		if r.Header.Get("ETag") != `W/"1"` || r.Header.Get("Last-Modified") == "" {
			t.Errorf("ETag %q, Last-Modified %q", r.Header.Get("ETag"), r.Header.Get("Last-Modified"))
		}
		if got := s.do("GET", "/Patient/client-chosen", ""); got.StatusCode != 404 {
			t.Errorf("the body id was used: %d", got.StatusCode)
		}
	})
	t.Run("any body id is replaced, not rejected", func(t *testing.T) {
		// The server ignores the id of a create: one too long, malformed, of the wrong JSON
		// type or with an _id is replaced like any other, over HTTP and in a Bundle.
		for name, id := range map[string]string{
			"too long": `"` + strings.Repeat("a", 65) + `"`, "malformed": `"a b/c"`, "empty": `""`,
			"a number": `7`, "with _id": `"x","_id":{"extension":[{"url":"http://example.org/x","valueString":"y"}]}`,
		} {
			body := `{"resourceType":"Patient","id":` + id + `,"active":true}`
			r := s.do("POST", "/Patient", body)
			wantStatus(t, r, http.StatusCreated)
			v := parse(t, r.Body)
			if got := v.Get("id").Text; len(got) != 36 || v.Get("_id") != nil || v.Get("active") == nil {
				t.Errorf("%s: %s", name, r.Body)
			}
			b := s.do("POST", "", bundleOf("transaction", ent("urn:uuid:0c8f2e6d-7f43-4d7c-a1e4-0b4c4a7f2e11", "POST", "Patient", body)))
			if es := entryResponses(t, b, "transaction-response"); status(es[0]) != "201 Created" {
				t.Errorf("%s in a transaction: %s", name, b.Body)
			}
		}
		// An id on update is still the URL's and checked.
		wantOutcome(t, s.do("PUT", "/Patient/"+strings.Repeat("a", 65), `{"resourceType":"Patient","id":"`+strings.Repeat("a", 65)+`"}`), http.StatusBadRequest, "")
		wantOutcome(t, s.do("PUT", "/Patient/p", `{"resourceType":"Patient","id":"a b"}`), http.StatusUnprocessableEntity, "")
	})
	t.Run("client meta is kept, server meta replaced", func(t *testing.T) {
		r := s.do("POST", "/Patient", `{"resourceType":"Patient","meta":{"versionId":"9","lastUpdated":"2000-01-01T00:00:00Z","source":"#app"}}`)
		wantStatus(t, r, http.StatusCreated)
		v := parse(t, r.Body)
		m := v.Get("meta")
		if m.Get("versionId").Text != "1" || m.Get("source").Text != "#app" || strings.HasPrefix(m.Get("lastUpdated").Text, "2000") {
			t.Errorf("meta %s", r.Body)
		}
	})
	t.Run("Prefer", func(t *testing.T) {
		for _, tt := range []struct{ prefer, wantType string }{
			{"return=minimal", ""},
			{"return=representation", "Patient"},
			{"return=OperationOutcome", "OperationOutcome"},
			{"respond-async, return=minimal", ""},
			{"", "Patient"},
		} {
			r := s.do("POST", "/Patient", `{"resourceType":"Patient"}`, "Prefer", tt.prefer)
			wantStatus(t, r, http.StatusCreated)
			if r.Header.Get("Location") == "" || r.Header.Get("ETag") != `W/"1"` {
				t.Errorf("%q: Location %q ETag %q", tt.prefer, r.Header.Get("Location"), r.Header.Get("ETag"))
			}
			if tt.wantType == "" {
				if len(r.Body) != 0 {
					t.Errorf("%q: body %s", tt.prefer, r.Body)
				}
				continue
			}
			if got := jsonString(t, r.Body, "resourceType"); got != tt.wantType {
				t.Errorf("%q: resourceType %q, want %q", tt.prefer, got, tt.wantType)
			}
		}
	})
}

func TestUpdate(t *testing.T) {
	s := newServer(t)
	id := s.create(patientJSON)
	body := func(id, family string) string {
		return `{"resourceType":"Patient","id":"` + id + `","name":[{"family":"` + family + `"}]}`
	}
	steps := []struct {
		name     string
		path     string
		body     string
		hdr      []string
		status   int
		etag     string
		location bool
	}{
		{"update", "/Patient/" + id, body(id, "A"), nil, 200, `W/"2"`, false},
		{"If-Match current", "/Patient/" + id, body(id, "B"), []string{"If-Match", `W/"2"`}, 200, `W/"3"`, false},
		{"If-Match strong form", "/Patient/" + id, body(id, "C"), []string{"If-Match", `"3"`}, 200, `W/"4"`, false},
		{"If-Match star", "/Patient/" + id, body(id, "D"), []string{"If-Match", `*`}, 200, `W/"5"`, false},
		{"update as create", "/Patient/new-1", body("new-1", "E"), nil, 201, `W/"1"`, true},
		{"update as create with If-None-Match star", "/Patient/new-2", body("new-2", "F"), []string{"If-None-Match", "*"}, 201, `W/"1"`, true},
		{"If-Match on a new id", "/Patient/new-3", body("new-3", "G"), []string{"If-Match", `W/"1"`}, 412, "", false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := s.do("PUT", st.path, st.body, st.hdr...)
			if st.status >= 400 {
				wantOutcome(t, r, st.status, "")
				return
			}
			wantStatus(t, r, st.status)
			if r.Header.Get("ETag") != st.etag {
				t.Errorf("ETag %q, want %q", r.Header.Get("ETag"), st.etag)
			}
			if loc := r.Header.Get("Location"); (loc != "") != st.location {
				t.Errorf("Location %q", loc)
			}
			if cl := r.Header.Get("Content-Location"); !strings.HasPrefix(cl, s.URL+st.path+"/_history/") {
				t.Errorf("Content-Location %q", cl)
			}
		})
	}
	t.Run("update after delete re-creates", func(t *testing.T) {
		id := s.create(patientJSON)
		wantStatus(t, s.do("DELETE", "/Patient/"+id, ""), 204)
		r := s.do("PUT", "/Patient/"+id, body(id, "Back"))
		wantStatus(t, r, 201)
		if r.Header.Get("ETag") != `W/"3"` {
			t.Errorf("ETag %q, want W/\"3\"", r.Header.Get("ETag"))
		}
	})
}

func TestDelete(t *testing.T) {
	s := newServer(t)
	id := s.create(patientJSON)
	other := s.create(patientJSON)
	steps := []struct {
		name, path string
		hdr        []string
		status     int
		etag       string
		versions   int // stored versions after the step
	}{
		{"If-Match stale", "/Patient/" + id, []string{"If-Match", `W/"2"`}, 412, "", 2},
		{"If-Match malformed", "/Patient/" + id, []string{"If-Match", `W/2`}, 400, "", 2},
		{"delete", "/Patient/" + id, nil, 204, `W/"2"`, 3},
		{"delete again: 204, no new version", "/Patient/" + id, nil, 204, `W/"2"`, 3},
		{"never existed", "/Patient/nope", nil, 404, "", 3},
		{"bad id", "/Patient/$bad", nil, 400, "", 3},
		{"unknown type", "/Nope/" + other, nil, 404, "", 3},
		{"If-Match current", "/Patient/" + other, []string{"If-Match", `W/"1"`}, 204, `W/"2"`, 4},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := s.do("DELETE", st.path, "", st.hdr...)
			if st.status >= 400 {
				wantOutcome(t, r, st.status, "")
			} else {
				wantStatus(t, r, st.status)
				if len(r.Body) != 0 {
					t.Errorf("body %s", r.Body)
				}
			}
			if r.Header.Get("ETag") != st.etag {
				t.Errorf("ETag %q, want %q", r.Header.Get("ETag"), st.etag)
			}
			if n := s.versions(); n != st.versions {
				t.Errorf("%d versions stored, want %d", n, st.versions)
			}
		})
	}
}
