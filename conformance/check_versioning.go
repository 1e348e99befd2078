package conformance

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// versioningChecks cover resource contention (If-Match on update, R4 http.html#concurrency)
// and conditional reads (If-None-Match, If-Modified-Since, R4 http.html#cread).
var versioningChecks = []check{
	{"update-if-match", checkUpdateIfMatch},
	{"update-if-match-stale", checkUpdateIfMatchStale},
	{"update-if-match-race", checkUpdateIfMatchRace},
	{"read-if-none-match", checkReadIfNoneMatch},
	{"read-if-modified-since", checkReadIfModifiedSince},
}

func (s *session) putPatient(ctx context.Context, c *created, headers ...string) (*response, error) {
	body := withID(fixture("patient.json", "value", c.value), "Patient", c.id)
	return s.do(ctx, http.MethodPut, "Patient/"+c.id, body, headers...)
}

// checkUpdateIfMatch: an update naming the current version applies: 200, ETag W/"2".
func checkUpdateIfMatch(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "update"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, err := s.putPatient(ctx, c, "If-Match", `W/"1"`)
	if err != nil {
		return err
	}
	if err := r.want(http.StatusOK); err != nil {
		return err
	}
	return r.etag("2")
}

// checkUpdateIfMatchStale: an update naming a superseded version is refused with 412, and the
// resource stays as it was: this is what prevents lost updates.
func checkUpdateIfMatchStale(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "update"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	if r, err := s.putPatient(ctx, c); err != nil {
		return err
	} else if err := r.want(http.StatusOK); err != nil {
		return fmt.Errorf("making version 2: %w", err)
	}
	r, err := s.putPatient(ctx, c, "If-Match", `W/"1"`)
	if err != nil {
		return err
	}
	if err := r.outcome(http.StatusPreconditionFailed); err != nil {
		return err
	}
	return s.wantVersion(ctx, "Patient", c.id, "2")
}

// checkReadIfNoneMatch: a read naming the current version answers 304 Not Modified without a
// body; naming another version, 200.
func checkReadIfNoneMatch(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalRead", "not-match", "full-support"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, err := s.do(ctx, http.MethodGet, "Patient/"+c.id, nil, "If-None-Match", `W/"1"`)
	if err != nil {
		return err
	}
	if err := r.want(http.StatusNotModified); err != nil {
		return err
	}
	if len(r.body) > 0 {
		return fmt.Errorf("%s: 304 with a %d-byte body", r, len(r.body))
	}
	r, err = s.do(ctx, http.MethodGet, "Patient/"+c.id, nil, "If-None-Match", `W/"999"`)
	if err != nil {
		return err
	}
	return r.want(http.StatusOK)
}

// checkReadIfModifiedSince: If-Modified-Since equal to the Last-Modified the server sent
// answers 304 (HTTP dates have whole seconds, so the comparison must be at that precision);
// a day earlier answers 200.
func checkReadIfModifiedSince(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalRead", "modified-since", "full-support"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, _, err := s.read(ctx, "Patient/"+c.id, "Patient")
	if err != nil {
		return err
	}
	lm, err := http.ParseTime(r.header.Get("Last-Modified"))
	if err != nil {
		return fmt.Errorf("%s: Last-Modified %q is not an HTTP date", r, r.header.Get("Last-Modified"))
	}
	r, err = s.do(ctx, http.MethodGet, "Patient/"+c.id, nil, "If-Modified-Since", lm.Format(http.TimeFormat))
	if err != nil {
		return err
	}
	if err := r.want(http.StatusNotModified); err != nil {
		return err
	}
	earlier := lm.Add(-24 * time.Hour).Format(http.TimeFormat)
	r, err = s.do(ctx, http.MethodGet, "Patient/"+c.id, nil, "If-Modified-Since", earlier)
	if err != nil {
		return err
	}
	return r.want(http.StatusOK)
}
