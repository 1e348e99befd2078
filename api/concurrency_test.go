package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentIfMatch: 32 clients each add their own identifiers to one resource with
// read-modify-write under If-Match, re-reading on 412. No update may be lost, and the
// versions must be 1, 2, 3, ... with no gap.
func TestConcurrentIfMatch(t *testing.T) {
	s := newServer(t)
	id := s.create(`{"resourceType":"Patient","identifier":[{"value":"seed"}]}`)
	const clients, perClient = 32, 3
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				value := fmt.Sprintf("c%d-%d", c, i)
				for attempt := 0; ; attempt++ {
					if attempt > 1000 {
						t.Errorf("%s: no success after 1000 attempts", value)
						return
					}
					r := s.do("GET", "/Patient/"+id, "")
					if r.StatusCode != 200 {
						t.Errorf("read: %d %s", r.StatusCode, r.Body)
						return
					}
					body := addIdentifier(string(r.Body), value)
					u := s.do("PUT", "/Patient/"+id, body, "If-Match", r.Header.Get("ETag"), "Prefer", "return=minimal")
					if u.StatusCode == http.StatusPreconditionFailed {
						conflicts.Add(1)
						continue
					}
					if u.StatusCode != 200 {
						t.Errorf("update: %d %s", u.StatusCode, u.Body)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d updates, %d answered 412 and were retried by the client", clients*perClient, conflicts.Load())
	checkAllUpdates(t, s, id, clients*perClient)
}

// TestConcurrentUnconditional: 32 clients PUT to one resource without If-Match at once:
// every request succeeds (lost races are retried inside the server) and versions are
// sequential.
func TestConcurrentUnconditional(t *testing.T) {
	s := newServer(t)
	id := s.create(`{"resourceType":"Patient"}`)
	const clients = 32
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			body := `{"resourceType":"Patient","id":"` + id + `","name":[{"family":"c` + fmt.Sprint(c) + `"}]}`
			if r := s.do("PUT", "/Patient/"+id, body); r.StatusCode != 200 {
				t.Errorf("update: %d %s", r.StatusCode, r.Body)
			}
		})
	}
	wg.Wait()
	r := s.do("GET", "/Patient/"+id, "")
	if etag := r.Header.Get("ETag"); etag != fmt.Sprintf(`W/"%d"`, clients+1) {
		t.Errorf("ETag %s, want W/\"%d\"", etag, clients+1)
	}
	checkSequential(t, s, id, clients+1)
}

// TestConcurrentPatch: unconditional patches that each append to an array all land: a lost
// race re-applies the patch to the new current version.
func TestConcurrentPatch(t *testing.T) {
	s := newServer(t)
	id := s.create(`{"resourceType":"Patient","identifier":[{"value":"seed"}]}`)
	const clients = 16
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			p := fmt.Sprintf(`[{"op":"add","path":"/identifier/-","value":{"value":"c%d-0"}}]`, c)
			if r := s.do("PATCH", "/Patient/"+id, p, "Content-Type", patchType); r.StatusCode != 200 {
				t.Errorf("patch: %d %s", r.StatusCode, r.Body)
			}
		})
	}
	wg.Wait()
	checkAllUpdates(t, s, id, clients)
}

// addIdentifier inserts {"value": v} first in the (non-empty) identifier array of a compact
// resource.
func addIdentifier(body, v string) string {
	i := strings.Index(body, `"identifier":[`) + len(`"identifier":[`)
	return body[:i] + `{"value":"` + v + `"},` + body[i:]
}

// checkAllUpdates: the resource holds the seed and n more distinct identifiers, and its
// versions are 1..n+1.
func checkAllUpdates(t *testing.T, s *server, id string, n int) {
	t.Helper()
	r := s.do("GET", "/Patient/"+id, "")
	v := parse(t, r.Body)
	seen := map[string]bool{}
	for _, ident := range v.Get("identifier").Arr {
		seen[ident.Get("value").Text] = true
	}
	if len(seen) != n+1 || len(v.Get("identifier").Arr) != n+1 {
		t.Errorf("%d identifiers (%d distinct), want %d: updates were lost", len(v.Get("identifier").Arr), len(seen), n+1)
	}
	checkSequential(t, s, id, n+1)
}

// checkSequential: the instance history lists versions last..1, each once, newest first, and
// meta.lastUpdated never goes back.
func checkSequential(t *testing.T, s *server, id string, last int) {
	t.Helper()
	r := s.do("GET", fmt.Sprintf("/Patient/%s/_history?_count=%d", id, last+5), "")
	es := entries(t, parse(t, r.Body))
	if len(es) != last {
		t.Fatalf("%d versions in history, want %d", len(es), last)
	}
	for i, e := range es {
		if want := fmt.Sprintf(`W/"%d"`, last-i); e.etag != want {
			t.Fatalf("history entry %d has %s, want %s", i, e.etag, want)
		}
	}
}
