package conformance

import (
	"context"
	"fmt"
	"net/http"
)

// checkUpdate: PUT of an existing resource answers 200 with ETag W/"2"; the new content is
// current and version 1 is still readable as it was (R4 http.html#update).
func checkUpdate(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "update", "read"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	body := edit(withID(fixture("patient.json", "value", c.value), "Patient", c.id), func(r obj) {
		r["gender"] = "other"
	})
	r, err := s.do(ctx, http.MethodPut, "Patient/"+c.id, body, "Prefer", "return=representation")
	if err != nil {
		return err
	}
	if err := r.want(http.StatusOK); err != nil {
		return err
	}
	if err := r.etag("2"); err != nil {
		return err
	}
	res, err := r.resource("Patient")
	if err != nil {
		return fmt.Errorf("asked for Prefer: return=representation: %w", err)
	}
	if err := checkStored(res, c.id, "2"); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	v, cur, err := s.readVersion(ctx, "Patient", c.id)
	if err != nil {
		return err
	}
	if v != "2" || str(cur, "gender") != "other" {
		return fmt.Errorf("after the update, read gives version %q with gender %q, want 2 and other", v, str(cur, "gender"))
	}
	if err := s.requireType("Patient", "vread"); err != nil {
		return nil // the update itself passed; version 1 cannot be looked at
	}
	_, old, err := s.read(ctx, "Patient/"+c.id+"/_history/1", "Patient")
	if err != nil {
		return fmt.Errorf("version 1 after the update: %w", err)
	}
	if str(old, "gender") != "female" || str(old, "meta", "versionId") != "1" {
		return fmt.Errorf("version 1 after the update has version %q and gender %q, want 1 and female",
			str(old, "meta", "versionId"), str(old, "gender"))
	}
	return nil
}

// checkUpdateAsCreate: PUT to an id that does not exist creates the resource with that id:
// 201, Location [base]/Patient/[id]/_history/1, ETag W/"1" (R4 http.html#upsert).
func checkUpdateAsCreate(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "update"); err != nil {
		return err
	}
	if err := s.requireFlag("Patient", "updateCreate"); err != nil {
		return err
	}
	id := s.nextValue()
	body := withID(fixture("patient.json", "value", s.nextValue()), "Patient", id)
	r, err := s.do(ctx, http.MethodPut, "Patient/"+id, body)
	if err != nil {
		return err
	}
	if r.status == http.StatusOK || r.status == http.StatusCreated {
		s.track("Patient", id)
	}
	if err := r.want(http.StatusCreated); err != nil {
		return err
	}
	if gotID, v := parseLocation(r.header.Get("Location"), "Patient"); gotID != id || v != "1" {
		return fmt.Errorf("%s: Location %q, want [base]/Patient/%s/_history/1", r, r.header.Get("Location"), id)
	}
	if err := r.etag("1"); err != nil {
		return err
	}
	return s.wantVersion(ctx, "Patient", id, "1")
}
