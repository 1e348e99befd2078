package conformance

import (
	"context"
	"fmt"
	"net/http"
)

// deleted are the statuses R4 http.html#delete allows for a successful delete: 200 with a
// body, 204 without, 202 when the server will not commit to the outcome yet.
var deleted = []int{http.StatusOK, http.StatusAccepted, http.StatusNoContent}

// checkDelete: DELETE succeeds, and a read afterwards answers 410 Gone.
func checkDelete(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "delete", "read"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, err := s.do(ctx, http.MethodDelete, "Patient/"+c.id, nil)
	if err != nil {
		return err
	}
	if err := r.want(deleted...); err != nil {
		return err
	}
	return s.wantGone(ctx, "Patient", c.id)
}

// wantGone fails unless a read of typ/id answers 410 Gone, which tells a client the resource
// existed and was deleted, unlike 404.
func (s *session) wantGone(ctx context.Context, typ, id string) error {
	r, err := s.do(ctx, http.MethodGet, typ+"/"+id, nil)
	if err != nil {
		return err
	}
	if err := r.want(http.StatusGone); err != nil {
		return fmt.Errorf("read after delete: %w", err)
	}
	return nil
}

// checkDeleteAgain: deleting a deleted resource has no effect and succeeds like the first delete
// (R4 http.html#delete), so that clients can retry a delete safely.
func checkDeleteAgain(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "delete"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	for i := range 2 {
		r, err := s.do(ctx, http.MethodDelete, "Patient/"+c.id, nil)
		if err != nil {
			return err
		}
		if err := r.want(deleted...); err != nil {
			return fmt.Errorf("delete #%d: %w", i+1, err)
		}
	}
	return nil
}

// checkVReadAfterDelete: deleting keeps the history; version 1 is still readable.
func checkVReadAfterDelete(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "delete", "vread"); err != nil {
		return err
	}
	if err := s.requireFlag("Patient", "readHistory"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, err := s.do(ctx, http.MethodDelete, "Patient/"+c.id, nil)
	if err != nil {
		return err
	}
	if err := r.want(deleted...); err != nil {
		return err
	}
	r, res, err := s.read(ctx, "Patient/"+c.id+"/_history/1", "Patient")
	if err != nil {
		return fmt.Errorf("version 1 after delete: %w", err)
	}
	if err := checkStored(res, c.id, "1"); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	return nil
}
