package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestIndexEntryCap: a resource whose search index would hold more than 10,000 entries (an
// Observation with 10,001 codings) is refused, 422 too-costly, and nothing is written; a
// CodeSystem, which lists thousands of codes by nature, is not capped.
func TestIndexEntryCap(t *testing.T) {
	s := newServer(t)
	codings := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"system":"urn:s","code":"c%d"}`, i)
		}
		return b.String()
	}
	r := s.do("POST", "/Observation", `{"resourceType":"Observation","status":"final","code":{"coding":[`+codings(10_001)+`]}}`)
	wantOutcome(t, r, http.StatusUnprocessableEntity, "too-costly")
	if n := s.versions(); n != 0 {
		t.Errorf("%d versions written", n)
	}
	if r := s.do("POST", "/Observation", `{"resourceType":"Observation","status":"final","code":{"coding":[`+codings(2_000)+`]}}`); r.StatusCode != http.StatusCreated {
		t.Errorf("an Observation with 2,000 codings: %d %s", r.StatusCode, r.Body)
	}
	var concepts strings.Builder
	for i := range 12_000 {
		if i > 0 {
			concepts.WriteByte(',')
		}
		fmt.Fprintf(&concepts, `{"code":"k%d"}`, i)
	}
	if r := s.do("POST", "/CodeSystem", `{"resourceType":"CodeSystem","status":"active","content":"complete","url":"urn:big","concept":[`+concepts.String()+`]}`); r.StatusCode != http.StatusCreated {
		t.Errorf("a CodeSystem of 12,000 concepts: %d %s", r.StatusCode, r.Body)
	}
}

// TestBundleResponseBudget: a batch's read entries together return at most 32 MiB of
// resources (the entry that crosses it whole); each later one answers 400 too-costly, so one
// request cannot hold gigabytes (200 reads of a 7 MB resource once held 1.4 GB).
func TestBundleResponseBudget(t *testing.T) {
	s := newServer(t)
	big := strings.Repeat("x", 1<<20)
	id := s.create(`{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + big + `</div>"}}`)
	var entries []string
	for range 40 {
		entries = append(entries, `{"request":{"method":"GET","url":"Patient/`+id+`"}}`)
	}
	r := s.do("POST", "", `{"resourceType":"Bundle","type":"batch","entry":[`+strings.Join(entries, ",")+`]}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("batch: %d", r.StatusCode)
	}
	ok, refused := strings.Count(string(r.Body), `"status":"200`), strings.Count(string(r.Body), `"status":"400`)
	if ok != 32 || refused != 8 {
		t.Errorf("%d reads answered and %d refused, want 32 (32 MiB of 1 MiB resources) and 8", ok, refused)
	}
	if len(r.Body) > 40<<20 {
		t.Errorf("a %d MiB response", len(r.Body)>>20)
	}
}
