package conformance

import (
	"context"
	"fmt"
	"net/http"
)

// condUpdate PUTs body to Patient?identifier=value.
func (s *session) condUpdate(ctx context.Context, value string, body []byte) (*response, error) {
	return s.do(ctx, http.MethodPut, "Patient?"+identifierQuery(value), body)
}

// checkCondUpdateOneMatch: one match, body without id: the match is updated to version 2.
func checkCondUpdateOneMatch(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalUpdate"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	body := edit(fixture("patient.json", "value", c.value), func(r obj) { r["gender"] = "other" })
	r, err := s.condUpdate(ctx, c.value, body)
	if err != nil {
		return err
	}
	if id, _ := parseLocation(r.header.Get("Location"), "Patient"); id != "" && id != c.id {
		s.track("Patient", id)
	}
	if err := r.want(http.StatusOK); err != nil {
		return err
	}
	if err := r.etag("2"); err != nil {
		return err
	}
	v, cur, err := s.readVersion(ctx, "Patient", c.id)
	if err != nil {
		return err
	}
	if v != "2" || str(cur, "gender") != "other" {
		return fmt.Errorf("after the conditional update, Patient/%s has version %q and gender %q; want 2 and other", c.id, v, str(cur, "gender"))
	}
	return nil
}

// checkCondUpdateNoMatch: no match, body without id: the resource is created, 201.
func checkCondUpdateNoMatch(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalUpdate"); err != nil {
		return err
	}
	value := s.nextValue()
	r, err := s.condUpdate(ctx, value, fixture("patient.json", "value", value))
	if err != nil {
		return err
	}
	id, _ := parseLocation(r.header.Get("Location"), "Patient")
	if id != "" {
		s.track("Patient", id)
	}
	if err := r.want(http.StatusCreated); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%s: Location %q does not name the new Patient", r, r.header.Get("Location"))
	}
	return s.wantVersion(ctx, "Patient", id, "1")
}

// checkCondUpdateMultiple: several matches, so 412 and neither match changes.
func checkCondUpdateMultiple(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalUpdate"); err != nil {
		return err
	}
	value, ids, err := s.twoPatients(ctx)
	if err != nil {
		return err
	}
	r, err := s.condUpdate(ctx, value, fixture("patient.json", "value", value))
	if err != nil {
		return err
	}
	if id, _ := parseLocation(r.header.Get("Location"), "Patient"); id != "" {
		s.track("Patient", id)
	}
	if err := r.outcome(http.StatusPreconditionFailed); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.wantVersion(ctx, "Patient", id, "1"); err != nil {
			return fmt.Errorf("after the refused update: %w", err)
		}
	}
	return nil
}

// checkCondDeleteOneMatch: DELETE Patient?identifier=... deletes the one match.
func checkCondDeleteOneMatch(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalDelete"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, err := s.do(ctx, http.MethodDelete, "Patient?"+identifierQuery(c.value), nil)
	if err != nil {
		return err
	}
	if err := r.want(deleted...); err != nil {
		return err
	}
	return s.wantGone(ctx, "Patient", c.id)
}

// checkCondDeleteMultiple: a server that deletes single matches only (conditionalDelete
// "single") answers 412 when several match, and deletes none of them.
func checkCondDeleteMultiple(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalDelete", "single"); err != nil {
		return err
	}
	value, ids, err := s.twoPatients(ctx)
	if err != nil {
		return err
	}
	r, err := s.do(ctx, http.MethodDelete, "Patient?"+identifierQuery(value), nil)
	if err != nil {
		return err
	}
	if err := r.outcome(http.StatusPreconditionFailed); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.wantVersion(ctx, "Patient", id, "1"); err != nil {
			return fmt.Errorf("after the refused delete: %w", err)
		}
	}
	return nil
}
