package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRevincludeManySources: a _revinclude over a page of 600 matches (the sources of one
// internal clause) answers 200: the values go to the store in chunks, not one clause of 600
// ORed references (which passed SQLite's expression depth and answered 500).
func TestRevincludeManySources(t *testing.T) {
	s := newServer(t)
	var entries []string
	for i := range 600 {
		entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Observation","status":"final","code":{"text":"many-%d"}},"request":{"method":"POST","url":"Observation"}}`, i))
	}
	r := s.do("POST", "/", `{"resourceType":"Bundle","type":"transaction","entry":[`+strings.Join(entries, ",")+`]}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("transaction: %d", r.StatusCode)
	}
	for _, q := range []string{"/Observation?_count=600&_revinclude=Observation:has-member", "/Observation?_count=600&_include=Observation:has-member"} {
		if r := s.do("GET", q, ""); r.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", q, r.StatusCode)
		}
	}
}

// TestSearchPageBytes: a page of very large resources ends early with a next link (no request
// makes the server hold more than about twice the body limit, at least 16 MiB), and the next
// links bring every match once.
func TestSearchPageBytes(t *testing.T) {
	s := newServer(t)
	big := strings.Repeat("x", 4<<20) // five of these are 20 MiB
	for i := range 5 {
		s.create(fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"big-%d"},"note":[{"text":"%s"}]}`, i, big))
	}
	seen := 0
	url := "/Observation?_count=10&_elements=id"
	for pages := 0; url != ""; pages++ {
		if pages > 5 {
			t.Fatal("more pages than matches")
		}
		r := s.do("GET", url, "")
		var b struct {
			Entry []json.RawMessage
			Link  []struct{ Relation, URL string }
		}
		if err := json.Unmarshal(r.Body, &b); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", url, r.StatusCode, err)
		}
		if len(b.Entry) > 4 {
			t.Errorf("a page of %d resources of 4 MiB", len(b.Entry))
		}
		seen += len(b.Entry)
		url = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				url = strings.TrimPrefix(l.URL, s.URL)
			}
		}
	}
	if seen != 5 {
		t.Errorf("%d matches over the pages, want 5", seen)
	}
}
