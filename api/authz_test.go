package api_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/portico-health/portico/policy"
)

// TestViewEnforcesPolicy: with a policy, every interaction goes through the caller's view (the
// guard package tests the view itself; server/ and e2e/ test the policy with real tokens).
func TestViewEnforcesPolicy(t *testing.T) {
	var mu sync.Mutex
	scopes, _, _ := policy.ParseScopes("patient/Observation.cruds")
	caller := policy.Principal{Scopes: scopes, Patient: "a"}
	open, _, _ := policy.ParseScopes("system/*.cruds")
	system := policy.Principal{Scopes: open}
	current := system
	set := func(p policy.Principal) { mu.Lock(); current = p; mu.Unlock() }
	s := newServer(t, func(o *options) {
		o.policy = policy.New(policy.Options{})
		o.principal = func() policy.Principal { mu.Lock(); defer mu.Unlock(); return current }
	})
	obs := func(subject string) string {
		return `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + subject + `"}}`
	}
	a1, _, b1 := s.create(obs("a")), s.create(obs("a")), s.create(obs("b"))

	set(caller)
	r := s.do(http.MethodGet, "/Observation?_total=accurate", "")
	wantStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.Body), b1) || !strings.Contains(string(r.Body), a1) || !strings.Contains(string(r.Body), `"total":2`) {
		t.Errorf("search: %s", r.Body)
	}
	wantOutcome(t, s.do(http.MethodGet, "/Observation/"+b1, ""), http.StatusNotFound, "not-found")
	wantOutcome(t, s.do(http.MethodGet, "/Observation/"+b1+"/_history/1", ""), http.StatusNotFound, "not-found")
	wantOutcome(t, s.do(http.MethodGet, "/Observation/"+b1+"/_history", ""), http.StatusNotFound, "not-found")
	wantOutcome(t, s.do(http.MethodGet, "/Patient", ""), http.StatusForbidden, "forbidden")
	wantOutcome(t, s.do(http.MethodPost, "/Observation", obs("b")), http.StatusForbidden, "forbidden")
	wantOutcome(t, s.do(http.MethodGet, "/Observation/_history", ""), http.StatusForbidden, "forbidden")
	wantOutcome(t, s.do(http.MethodDelete, "/Observation/"+b1, ""), http.StatusNotFound, "not-found")
	wantStatus(t, s.do(http.MethodGet, "/Observation/"+a1, ""), http.StatusOK)
	wantStatus(t, s.do(http.MethodPost, "/Observation", obs("a")), http.StatusCreated)

	set(system)
	wantStatus(t, s.do(http.MethodGet, "/Observation/"+b1, ""), http.StatusOK)
}
