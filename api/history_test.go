package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/fhir"
)

// historyEntry is what a test checks of one Bundle entry.
type historyEntry struct {
	fullURL, method, url, status, etag string
	hasResource                        bool
}

func entries(t *testing.T, bundle fhir.Value) []historyEntry {
	t.Helper()
	var out []historyEntry
	e := bundle.Get("entry")
	if e == nil {
		return nil
	}
	for _, en := range e.Arr {
		out = append(out, historyEntry{
			fullURL:     en.Get("fullUrl").Text,
			method:      en.Get("request").Get("method").Text,
			url:         en.Get("request").Get("url").Text,
			status:      en.Get("response").Get("status").Text,
			etag:        en.Get("response").Get("etag").Text,
			hasResource: en.Get("resource") != nil,
		})
	}
	return out
}

func link(bundle fhir.Value, rel string) string {
	for _, l := range bundle.Get("link").Arr {
		if l.Get("relation").Text == rel {
			return l.Get("url").Text
		}
	}
	return ""
}

func TestHistory(t *testing.T) {
	s := newServer(t)
	id := s.create(patientJSON)
	wantStatus(t, s.do("PUT", "/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`"}`), 200)
	wantStatus(t, s.do("DELETE", "/Patient/"+id, ""), 204)
	wantStatus(t, s.do("PUT", "/Patient/p2", `{"resourceType":"Patient","id":"p2"}`), 201)
	obs := s.create(`{"resourceType":"Observation","status":"final","code":{"text":"t"}}`)

	r := s.do("GET", "/Patient/"+id+"/_history", "")
	wantStatus(t, r, 200)
	b := parse(t, r.Body)
	if b.Get("resourceType").Text != "Bundle" || b.Get("type").Text != "history" {
		t.Fatalf("not a history Bundle: %s", r.Body)
	}
	full := s.URL + "/Patient/" + id
	want := []historyEntry{
		{full, "DELETE", "Patient/" + id, "204 No Content", `W/"3"`, false},
		{full, "PUT", "Patient/" + id, "200 OK", `W/"2"`, true},
		{full, "POST", "Patient", "201 Created", `W/"1"`, true},
	}
	if got := entries(t, b); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("instance history\n got %v\nwant %v", got, want)
	}
	if self := link(b, "self"); !strings.HasPrefix(self, full+"/_history?") {
		t.Errorf("self link %q", self)
	}

	typeHist := entries(t, parse(t, s.do("GET", "/Patient/_history", "").Body))
	if len(typeHist) != 4 || typeHist[0].url != "Patient/p2" || typeHist[0].status != "201 Created" || typeHist[0].method != "PUT" {
		t.Errorf("type history %v", typeHist)
	}
	sys := entries(t, parse(t, s.do("GET", "/_history", "").Body))
	if len(sys) != 5 || sys[0].fullURL != s.URL+"/Observation/"+obs {
		t.Errorf("system history %v", sys)
	}

	errs := []struct {
		name, path string
		status     int
	}{
		{"unknown instance", "/Patient/nope/_history", 404},
		{"unknown type", "/Nope/_history", 404},
		{"bad _count", "/_history?_count=x", 400},
		{"zero _count", "/_history?_count=0", 400},
		{"bad _since", "/_history?_since=yesterday", 400},
		{"partial _at", "/_history?_at=2024", 400},
		{"damaged cursor", "/_history?_cursor=not-a-cursor", 400},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { wantOutcome(t, s.do("GET", tt.path, ""), tt.status, "") })
	}
}

func TestHistorySinceAndAt(t *testing.T) {
	s := newServer(t)
	id := s.create(patientJSON)
	time.Sleep(20 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	wantStatus(t, s.do("PUT", "/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`"}`), 200)

	tests := []struct {
		name, query string
		etags       []string
	}{
		{"_since before the update", "_since=" + url.QueryEscape(mid.Format(time.RFC3339Nano)), []string{`W/"2"`}},
		{"_since with an unencoded + offset", "_since=" + mid.In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05.000") + "+01:00", []string{`W/"2"`}},
		{"_at between the versions", "_at=" + url.QueryEscape(mid.Format(time.RFC3339Nano)), []string{`W/"1"`}},
		{"_since in the future", "_since=2200-01-01T00:00:00Z", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do("GET", "/Patient/"+id+"/_history?"+tt.query, "")
			wantStatus(t, r, 200)
			var got []string
			for _, e := range entries(t, parse(t, r.Body)) {
				got = append(got, e.etag)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.etags) {
				t.Errorf("versions %v, want %v", got, tt.etags)
			}
		})
	}
}

// TestHistoryPaging follows next links while other requests keep writing: the pages list
// exactly the versions that existed when the first page was read, each once.
func TestHistoryPaging(t *testing.T) {
	s := newServer(t, func(o *options) { o.count = 4; o.maxCount = 7 })
	const initial = 23
	for i := range initial {
		s.create(patientWithMRN(fmt.Sprint(i)))
	}
	first := s.do("GET", "/Patient/_history", "")
	wantStatus(t, first, 200)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.create(patientWithMRN(fmt.Sprint("new", i)))
		}
	})

	seen := map[string]bool{}
	b := parse(t, first.Body)
	pages := 0
	for {
		pages++
		for _, e := range entries(t, b) {
			if seen[e.fullURL] {
				t.Errorf("%s listed twice", e.fullURL)
			}
			seen[e.fullURL] = true
		}
		next := link(b, "next")
		if next == "" {
			break
		}
		if !strings.Contains(next, "_count=4") || !strings.HasPrefix(next, s.URL+"/Patient/_history?") {
			t.Errorf("next link %q", next)
		}
		r := s.do("GET", strings.TrimPrefix(next, s.URL), "")
		wantStatus(t, r, 200)
		b = parse(t, r.Body)
	}
	close(stop)
	wg.Wait()
	if len(seen) != initial || pages != 6 {
		t.Errorf("%d resources on %d pages, want %d on 6", len(seen), pages, initial)
	}

	t.Run("_count is capped at MaxCount", func(t *testing.T) {
		r := s.do("GET", "/_history?_count=1000", "")
		if n := len(entries(t, parse(t, r.Body))); n != 7 {
			t.Errorf("%d entries, want 7", n)
		}
		if next := link(parse(t, r.Body), "next"); !strings.Contains(next, "_count=7") {
			t.Errorf("next link %q", next)
		}
	})
	t.Run("_pretty and _format carry over", func(t *testing.T) {
		r := s.do("GET", "/_history?_pretty=true&_format=json", "")
		wantStatus(t, r, http.StatusOK)
		next := link(parse(t, r.Body), "next")
		if !strings.Contains(next, "_pretty=true") || !strings.Contains(next, "_format=json") {
			t.Errorf("next link %q", next)
		}
	})
}
