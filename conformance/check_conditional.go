package conformance

import (
	"context"
	"fmt"
	"net/http"
)

// conditionalChecks cover conditional create, update and delete (R4 http.html#ccreate,
// #cond-update, #cdelete), selecting by an identifier unique to the check.
var conditionalChecks = []check{
	{"create-no-match", checkCondCreateNoMatch},
	{"create-one-match", checkCondCreateOneMatch},
	{"create-multiple-matches", checkCondCreateMultiple},
	{"create-race", checkCondCreateRace},
	{"update-one-match", checkCondUpdateOneMatch},
	{"update-no-match", checkCondUpdateNoMatch},
	{"update-multiple-matches", checkCondUpdateMultiple},
	{"delete-one-match", checkCondDeleteOneMatch},
	{"delete-multiple-matches", checkCondDeleteMultiple},
}

// condCreate POSTs patient.json carrying value with If-None-Exist selecting value.
func (s *session) condCreate(ctx context.Context, value string) (*response, error) {
	return s.do(ctx, http.MethodPost, "Patient", fixture("patient.json", "value", value),
		"If-None-Exist", identifierQuery(value), "Prefer", "return=representation")
}

// twoPatients creates two Patients carrying the same identifier value, by plain create.
func (s *session) twoPatients(ctx context.Context) (value string, ids [2]string, err error) {
	value = s.nextValue()
	for i := range ids {
		c, err := s.create(ctx, "Patient", fixture("patient.json", "value", value))
		if err != nil {
			return "", ids, fmt.Errorf("creating two Patients with one identifier: %w", err)
		}
		ids[i] = c.id
	}
	return value, ids, nil
}

// checkCondCreateNoMatch: nothing matches If-None-Exist, so the resource is created: 201.
func checkCondCreateNoMatch(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalCreate"); err != nil {
		return err
	}
	r, err := s.condCreate(ctx, s.nextValue())
	if err != nil {
		return err
	}
	if id, _ := parseLocation(r.header.Get("Location"), "Patient"); id != "" {
		s.track("Patient", id)
	}
	return r.want(http.StatusCreated)
}

// checkCondCreateOneMatch: one resource matches, so "the server ignores the post and returns
// 200 OK": no new resource, and the match is not changed.
func checkCondCreateOneMatch(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalCreate"); err != nil {
		return err
	}
	value := s.nextValue()
	first, err := s.create(ctx, "Patient", fixture("patient.json", "value", value))
	if err != nil {
		return err
	}
	r, err := s.condCreate(ctx, value)
	if err != nil {
		return err
	}
	if id, _ := parseLocation(r.header.Get("Location"), "Patient"); id != "" && id != first.id {
		s.track("Patient", id)
		return fmt.Errorf("%s: Location names Patient/%s, a new resource; the match is Patient/%s", r, id, first.id)
	}
	if err := r.want(http.StatusOK); err != nil {
		return err
	}
	if len(r.body) > 0 {
		if res, err := r.resource("Patient"); err == nil && str(res, "id") != first.id {
			return fmt.Errorf("%s: returned Patient/%s, want the match Patient/%s", r, str(res, "id"), first.id)
		}
	}
	if err := s.wantVersion(ctx, "Patient", first.id, "1"); err != nil {
		return fmt.Errorf("the matching resource changed: %w", err)
	}
	return s.wantOnlyMatch(ctx, value, first.id)
}

// wantOnlyMatch looks through the newest type history for another Patient carrying value,
// which a wrongly honoured conditional create would have made. Without type history there is
// nothing to look at, and the Location and body checks above must do.
func (s *session) wantOnlyMatch(ctx context.Context, value, id string) error {
	if s.requireType("Patient", "history-type") != nil {
		return nil
	}
	entries, err := s.historyBundle(ctx, "Patient/_history")
	if err != nil {
		return fmt.Errorf("looking for a duplicate in the type history: %w", err)
	}
	for _, e := range entries {
		if str(e, "resource", "identifier", 0, "value") == value && str(e, "resource", "id") != id {
			other := str(e, "resource", "id")
			s.track("Patient", other)
			return fmt.Errorf("a second Patient/%s with the same identifier was created", other)
		}
	}
	return nil
}

// checkCondCreateMultiple: several resources match, so 412 Precondition Failed.
func checkCondCreateMultiple(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalCreate"); err != nil {
		return err
	}
	value, _, err := s.twoPatients(ctx)
	if err != nil {
		return err
	}
	r, err := s.condCreate(ctx, value)
	if err != nil {
		return err
	}
	if id, _ := parseLocation(r.header.Get("Location"), "Patient"); id != "" {
		s.track("Patient", id)
	}
	return r.outcome(http.StatusPreconditionFailed)
}
