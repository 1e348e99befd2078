package api_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
)

func patientWithMRN(mrn string) string {
	return `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"` + mrn + `"}]}`
}

func TestConditionalCreate(t *testing.T) {
	s := newServer(t)
	first := s.create(patientWithMRN("1"))
	s.create(patientWithMRN("2"))
	s.create(patientWithMRN("2"))
	s.create(`{"resourceType":"Patient","identifier":[{"value":"nosys"}]}`)

	tests := []struct {
		name, ifNoneExist string
		status            int
		sameID            string // for a 200: the id returned
		written           bool
	}{
		{"no match creates", "identifier=urn:mrn|9", 201, "", true},
		{"one match returns it", "identifier=urn:mrn|1", 200, first, false},
		{"code only", "identifier=1", 200, first, false},
		{"system only", "identifier=urn:mrn|", 412, "", false},
		{"no system", "identifier=|nosys", 200, "", false},
		{"no system does not match a system", "identifier=|1", 201, "", true},
		{"type-prefixed criteria", "Patient?identifier=urn:mrn|1", 200, first, false},
		{"_id", "_id=" + first, 200, first, false},
		{"_id and identifier both hold", "_id=" + first + "&identifier=urn:mrn|1", 200, first, false},
		{"_id and identifier differ", "_id=" + first + "&identifier=urn:mrn|2", 201, "", true},
		{"OR of values", "identifier=urn:mrn|1,urn:mrn|77", 200, first, false},
		{"several matches", "identifier=urn:mrn|2", 412, "", false},
		{"url-encoded", "identifier=" + url.QueryEscape("urn:mrn|1"), 200, first, false},
		{"unknown parameter", "nosuch=Doe", 400, "", false},
		{"modifier", "identifier:exact=urn:mrn|1", 400, "", false},
		{"empty value", "identifier=", 400, "", false},
		{"bad _id", "_id=a_b", 400, "", false},
		{"only control parameters", "_format=json", 400, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.versions()
			r := s.do("POST", "/Patient", patientWithMRN("9"), "If-None-Exist", tt.ifNoneExist)
			switch {
			case tt.status >= 400:
				wantOutcome(t, r, tt.status, "")
			default:
				wantStatus(t, r, tt.status)
				if tt.sameID != "" && jsonString(t, r.Body, "id") != tt.sameID {
					t.Errorf("returned %s, want %s", jsonString(t, r.Body, "id"), tt.sameID)
				}
				if tt.status == 200 && r.Header.Get("Location") != "" {
					t.Errorf("Location on 200: %q", r.Header.Get("Location"))
				}
			}
			if written := s.versions() != before; written != tt.written {
				t.Errorf("written %v, want %v", written, tt.written)
			}
		})
	}
}

// TestConditionalCreateRace: concurrent conditional creates with the same criteria make one
// resource; every other request gets it back with 200.
func TestConditionalCreateRace(t *testing.T) {
	s := newServer(t)
	const n = 12
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			r := s.do("POST", "/Patient", patientWithMRN("race"), "If-None-Exist", "identifier=urn:mrn|race")
			statuses <- r.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[201] != 1 || count[200] != n-1 {
		t.Errorf("statuses %v, want one 201 and %d 200", count, n-1)
	}
	if v := s.versions(); v != 1 {
		t.Errorf("%d versions stored, want 1", v)
	}
}

func TestConditionalUpdate(t *testing.T) {
	s := newServer(t)
	one := s.create(patientWithMRN("1"))
	s.create(patientWithMRN("2"))
	s.create(patientWithMRN("2"))
	withID := func(id, mrn string) string {
		return `{"resourceType":"Patient","id":"` + id + `","identifier":[{"system":"urn:mrn","value":"` + mrn + `"}]}`
	}
	tests := []struct {
		name, query, body string
		hdr               []string
		status            int
		id                string // the id written, when known
		written           bool
	}{
		{"one match updates it", "?identifier=urn:mrn|1", patientWithMRN("1"), nil, 200, one, true},
		{"one match, same body id", "?identifier=urn:mrn|1", withID(one, "1"), nil, 200, one, true},
		{"one match, other body id", "?identifier=urn:mrn|1", withID("other", "1"), nil, 400, "", false},
		{"one match, If-Match current", "?identifier=urn:mrn|1", patientWithMRN("1"), []string{"If-Match", `W/"3"`}, 200, one, true},
		{"one match, If-Match stale", "?identifier=urn:mrn|1", patientWithMRN("1"), []string{"If-Match", `W/"1"`}, 412, "", false},
		{"no match creates with a server id", "?identifier=urn:mrn|3", patientWithMRN("3"), nil, 201, "", true},
		{"no match creates at the body id", "?identifier=urn:mrn|4", withID("chosen-4", "4"), nil, 201, "chosen-4", true},
		{"several matches", "?identifier=urn:mrn|2", patientWithMRN("2"), nil, 412, "", false},
		{"no criteria", "", patientWithMRN("5"), nil, 405, "", false},
		{"only control parameters", "?_pretty=true", patientWithMRN("5"), nil, 405, "", false},
		{"unknown parameter", "?nosuch=Doe", patientWithMRN("5"), nil, 400, "", false},
		{"invalid body id", "?identifier=urn:mrn|6", withID("a_b", "6"), nil, 422, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.versions()
			r := s.do("PUT", "/Patient"+tt.query, tt.body, tt.hdr...)
			if tt.status >= 400 {
				wantOutcome(t, r, tt.status, "")
			} else {
				wantStatus(t, r, tt.status)
				if tt.id != "" && jsonString(t, r.Body, "id") != tt.id {
					t.Errorf("wrote %s, want %s", jsonString(t, r.Body, "id"), tt.id)
				}
				if (r.Header.Get("Location") != "") != (tt.status == 201) {
					t.Errorf("Location %q with status %d", r.Header.Get("Location"), tt.status)
				}
			}
			if written := s.versions() != before; written != tt.written {
				t.Errorf("written %v, want %v", written, tt.written)
			}
		})
	}
	t.Run("a repeated conditional update after a create updates", func(t *testing.T) {
		r1 := s.do("PUT", "/Patient?identifier=urn:mrn|7", patientWithMRN("7"))
		wantStatus(t, r1, 201)
		r2 := s.do("PUT", "/Patient?identifier=urn:mrn|7", patientWithMRN("7"))
		wantStatus(t, r2, 200)
		if a, b := jsonString(t, r1.Body, "id"), jsonString(t, r2.Body, "id"); a != b {
			t.Errorf("second update went to %s, not %s", b, a)
		}
	})
}

func TestConditionalUpdateRace(t *testing.T) {
	s := newServer(t)
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r := s.do("PUT", "/Patient?identifier=urn:mrn|race", patientWithMRN("race"))
			if r.StatusCode != 200 && r.StatusCode != 201 {
				t.Errorf("status %d: %s", r.StatusCode, r.Body)
			}
		})
	}
	wg.Wait()
	page := s.do("GET", "/Patient/_history?_count=100", "")
	ids := map[string]bool{}
	b := parse(t, page.Body)
	for _, e := range b.Get("entry").Arr {
		ids[e.Get("resource").Get("id").Text] = true
	}
	if len(ids) != 1 || s.versions() != n {
		t.Errorf("%d resources, %d versions; want 1 resource with %d versions", len(ids), s.versions(), n)
	}
}

func TestConditionalDelete(t *testing.T) {
	s := newServer(t)
	one := s.create(patientWithMRN("1"))
	s.create(patientWithMRN("2"))
	s.create(patientWithMRN("2"))
	tests := []struct {
		name, query string
		status      int
		written     bool
	}{
		{"no match: 204", "?identifier=urn:mrn|9", 204, false},
		{"several matches", "?identifier=urn:mrn|2", 412, false},
		{"no criteria", "", 405, false},
		{"unknown parameter", "?nosuch=x", 400, false},
		{"one match deletes it", "?identifier=urn:mrn|1", 204, true},
		{"deleted no longer matches", "?identifier=urn:mrn|1", 204, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.versions()
			r := s.do("DELETE", "/Patient"+tt.query, "")
			if tt.status >= 400 {
				wantOutcome(t, r, tt.status, "")
			} else {
				wantStatus(t, r, tt.status)
			}
			if written := s.versions() != before; written != tt.written {
				t.Errorf("written %v, want %v", written, tt.written)
			}
		})
	}
	wantOutcome(t, s.do("GET", "/Patient/"+one, ""), http.StatusGone, "deleted")
}

// TestCreateCriteriaInURL: search criteria in the URL of a create (POST
// [base]/Patient?identifier=x, fhirpy's conditional create) are If-None-Exist: no match
// creates, one returns it unchanged, several are 412. Never ignored (that made a duplicate);
// criteria both in the URL and in If-None-Exist are 400; _format and _pretty are no criteria.
func TestCreateCriteriaInURL(t *testing.T) {
	s := newServer(t)
	first := s.create(patientWithMRN("1"))
	s.create(patientWithMRN("2"))
	s.create(patientWithMRN("2"))

	tests := []struct {
		name, query string
		hdr         []string
		status      int
		sameID      string
		written     bool
	}{
		{"one match returns it", "?identifier=urn:mrn|1", nil, 200, first, false},
		{"url-encoded", "?identifier=" + url.QueryEscape("urn:mrn|1"), nil, 200, first, false},
		{"with _format", "?identifier=urn:mrn|1&_format=json", nil, 200, first, false},
		{"no match creates", "?identifier=urn:mrn|8", nil, 201, "", true},
		{"the created one matches now", "?identifier=urn:mrn|8", nil, 200, "", false},
		{"several matches", "?identifier=urn:mrn|2", nil, 412, "", false},
		{"unknown parameter", "?nosuch=Doe", nil, 400, "", false},
		{"result parameter", "?identifier=urn:mrn|1&_count=1", nil, 400, "", false},
		{"empty value", "?identifier=", nil, 400, "", false},
		{"both URL and If-None-Exist", "?identifier=urn:mrn|1", []string{"If-None-Exist", "identifier=urn:mrn|1"}, 400, "", false},
		{"both, If-None-Exist would create", "?identifier=urn:mrn|1", []string{"If-None-Exist", "identifier=urn:mrn|77"}, 400, "", false},
		{"only _format: a plain create", "?_format=json", nil, 201, "", true},
		{"only _pretty: a plain create", "?_pretty=true", nil, 201, "", true},
		{"If-None-Exist alone still works", "", []string{"If-None-Exist", "identifier=urn:mrn|1"}, 200, first, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.versions()
			r := s.do("POST", "/Patient"+tt.query, patientWithMRN("8"), tt.hdr...)
			if tt.status >= 400 {
				wantOutcome(t, r, tt.status, "")
			} else {
				wantStatus(t, r, tt.status)
				if tt.sameID != "" && jsonString(t, r.Body, "id") != tt.sameID {
					t.Errorf("returned %s, want %s", jsonString(t, r.Body, "id"), tt.sameID)
				}
			}
			if wrote := s.versions() != before; wrote != tt.written {
				t.Errorf("wrote a version: %v, want %v", wrote, tt.written)
			}
		})
	}
}
