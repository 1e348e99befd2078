package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

// endlessSearches is a store whose searches run until their context ends, as a costly one
// would (a chain of :missing criteria over every resource with _total=accurate).
type endlessSearches struct{ store.Store }

func (s endlessSearches) Search(ctx context.Context, q store.Query) (store.Page, error) {
	<-ctx.Done()
	return store.Page{}, ctx.Err()
}

// TestSearchTimeout: a search still running at the server's limit is stopped and answered 503
// too-costly (an OperationOutcome, not a 500 and not a hang); reads by id are not bounded by it.
func TestSearchTimeout(t *testing.T) {
	s := newServer(t, func(o *options) {
		o.searchTimeout = 50 * time.Millisecond
		o.wrap = func(st store.Store) store.Store { return endlessSearches{st} }
	})
	id := s.create(`{"resourceType":"Patient","name":[{"family":"Lee"}]}`)
	start := time.Now()
	r := s.do("GET", "/Patient?family=Lee", "")
	wantOutcome(t, r, http.StatusServiceUnavailable, "too-costly")
	if d := time.Since(start); d > 5*time.Second { // a bound on a hang, not a measure
		t.Errorf("the search answered after %v", d)
	}
	if r := s.do("GET", "/Patient/"+id, ""); r.StatusCode != http.StatusOK {
		t.Errorf("read by id beside the bounded searches: %d", r.StatusCode)
	}
	// In a batch, the entry fails alone.
	r = s.do("POST", "", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?family=Lee"}},
		{"request":{"method":"GET","url":"Patient/`+id+`"}}]}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("batch: %d %s", r.StatusCode, r.Body)
	}
	for _, want := range []string{`"status":"503`, `"status":"200`} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("batch answer lacks %s: %s", want, r.Body)
		}
	}
}
