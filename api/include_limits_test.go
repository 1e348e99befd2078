package api_test

import (
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
