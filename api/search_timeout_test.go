package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
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

// countedEndless counts the searches that reached the store.
type countedEndless struct {
	store.Store
	n *atomic.Int32
}

func (s countedEndless) Search(ctx context.Context, q store.Query) (store.Page, error) {
	s.n.Add(1)
	<-ctx.Done()
	return store.Page{}, ctx.Err()
}

// TestBundleSearchBudget: a Bundle's search entries together run at most three times the
// limit of one search; past it, each further entry answers 503 too-costly without reaching the
// store. A thousand entries, each within the limit, once kept a core busy for twenty minutes.
func TestBundleSearchBudget(t *testing.T) {
	var n atomic.Int32
	s := newServer(t, func(o *options) {
		o.searchTimeout = 50 * time.Millisecond
		o.wrap = func(st store.Store) store.Store { return countedEndless{st, &n} }
	})
	var entries []string
	for range 20 {
		entries = append(entries, `{"request":{"method":"GET","url":"Patient?family=Lee"}}`)
	}
	r := s.do("POST", "", `{"resourceType":"Bundle","type":"batch","entry":[`+strings.Join(entries, ",")+`]}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("batch: %d %s", r.StatusCode, r.Body)
	}
	if got := strings.Count(string(r.Body), `"status":"503`); got != 20 {
		t.Errorf("%d of 20 entries answered 503, want all", got)
	}
	if got := n.Load(); got > 4 {
		t.Errorf("%d searches reached the store, want at most 4 (150 ms of budget, 50 ms each)", got)
	}
}
