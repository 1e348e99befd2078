package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/store"
)

// subjectAuthorizer restricts Observations to one subject and denies Patient; the API knows
// nothing else of it (the server's adapter over smart.Authorize is tested in server/).
type subjectAuthorizer struct {
	mu      sync.Mutex
	subject string // "" allows everything
	clauses bool   // whether the filter can be store clauses
}

func (z *subjectAuthorizer) set(subject string, clauses bool) {
	z.mu.Lock()
	z.subject, z.clauses = subject, clauses
	z.mu.Unlock()
}

func (z *subjectAuthorizer) Authorize(_ context.Context, r api.AccessRequest) (api.ResultFilter, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.subject == "" {
		return nil, nil
	}
	if r.Type != "Observation" {
		return nil, api.NewError(http.StatusForbidden, "forbidden", "only Observation")
	}
	f := subjectFilter{z.subject, z.clauses}
	if r.Resource != nil && !f.Matches(r.Type, r.Resource.ID, r.Resource.Index) {
		return nil, api.NewError(http.StatusForbidden, "forbidden", "not that subject")
	}
	return f, nil
}

type subjectFilter struct {
	subject string
	clauses bool
}

func (f subjectFilter) Matches(_, _ string, index []store.IndexEntry) bool {
	for _, e := range index {
		if e.Param == "subject" && e.RefType == "Patient" && e.RefID == f.subject {
			return true
		}
	}
	return false
}

func (f subjectFilter) Clauses(string) ([]store.Clause, bool) {
	if !f.clauses {
		return nil, false
	}
	return []store.Clause{{Param: "subject", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: f.subject}}}}, true
}

func TestAuthorizer(t *testing.T) {
	z := &subjectAuthorizer{}
	s := newServer(t, func(o *options) { o.authz = z })
	obs := func(subject string) string {
		return `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + subject + `"}}`
	}
	a1, _, b1 := s.create(obs("a")), s.create(obs("a")), s.create(obs("b"))

	for _, clauses := range []bool{false, true} {
		z.set("a", clauses)
		r := s.do(http.MethodGet, "/Observation?_total=accurate", "")
		wantStatus(t, r, http.StatusOK)
		if strings.Contains(string(r.Body), b1) || !strings.Contains(string(r.Body), a1) {
			t.Errorf("clauses=%v: search: %s", clauses, r.Body)
		}
		if hasTotal := strings.Contains(string(r.Body), `"total":2`); hasTotal != clauses {
			t.Errorf("clauses=%v: total must be given only when the store filtered: %s", clauses, r.Body)
		}
		wantOutcome(t, s.do(http.MethodGet, "/Observation/"+b1, ""), http.StatusForbidden, "forbidden")
		wantOutcome(t, s.do(http.MethodGet, "/Observation/"+b1+"/_history/1", ""), http.StatusForbidden, "forbidden")
		wantOutcome(t, s.do(http.MethodGet, "/Patient", ""), http.StatusForbidden, "forbidden")
		wantOutcome(t, s.do(http.MethodPost, "/Observation", obs("b")), http.StatusForbidden, "forbidden")
		wantStatus(t, s.do(http.MethodGet, "/Observation/"+a1, ""), http.StatusOK)
		if r := s.do(http.MethodGet, "/Observation/_history", ""); strings.Contains(string(r.Body), b1) {
			t.Errorf("type history shows another subject's Observation: %s", r.Body)
		}
	}
	z.set("", false) // open again
	wantStatus(t, s.do(http.MethodGet, "/Observation/"+b1, ""), http.StatusOK)
}
