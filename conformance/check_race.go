package conformance

import (
	"context"
	"fmt"
	"net/http"
	"sync"
)

// racers is how many clients the race checks send at once: enough to overlap on any server
// that handles requests concurrently.
const racers = 8

// race sends the same request from racers goroutines at once and returns every response. Any
// transport error fails the race.
func (s *session) race(ctx context.Context, method, path string, body []byte, headers ...string) ([]*response, error) {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		resps = make([]*response, racers)
		errs  = make([]error, racers)
	)
	for i := range racers {
		wg.Go(func() {
			<-start
			resps[i], errs[i] = s.do(ctx, method, path, body, headers...)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return resps, nil
}

// statusCounts tallies the statuses of responses, for error messages.
func statusCounts(resps []*response) map[int]int {
	n := map[int]int{}
	for _, r := range resps {
		n[r.status]++
	}
	return n
}

// checkUpdateIfMatchRace: concurrent updates naming the same version: exactly one wins, the
// others get 412, and the resource is at version 2. Without this, If-Match does not prevent
// lost updates under load, which is what it is for.
func checkUpdateIfMatchRace(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "update"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	body := withID(fixture("patient.json", "value", c.value), "Patient", c.id)
	resps, err := s.race(ctx, http.MethodPut, "Patient/"+c.id, body, "If-Match", `W/"1"`)
	if err != nil {
		return err
	}
	n := statusCounts(resps)
	if n[http.StatusOK] != 1 || n[http.StatusPreconditionFailed] != racers-1 {
		return fmt.Errorf("%d concurrent updates with If-Match W/\"1\" answered %v, want one 200 and %d × 412", racers, n, racers-1)
	}
	return s.wantVersion(ctx, "Patient", c.id, "2")
}

// checkCondCreateRace: concurrent conditional creates of one identifier make one resource:
// one 201, the others 200 for the match (the check and the write must be one atomic step).
func checkCondCreateRace(ctx context.Context, s *session) error {
	if err := s.requireFlag("Patient", "conditionalCreate"); err != nil {
		return err
	}
	if err := s.requireType("Patient", "create"); err != nil {
		return err
	}
	value := s.nextValue()
	resps, err := s.race(ctx, http.MethodPost, "Patient", fixture("patient.json", "value", value),
		"If-None-Exist", identifierQuery(value))
	if err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, r := range resps {
		if r.status == http.StatusCreated {
			if id, _ := parseLocation(r.header.Get("Location"), "Patient"); id != "" && !ids[id] {
				ids[id] = true
				s.track("Patient", id)
			}
		}
	}
	n := statusCounts(resps)
	if n[http.StatusCreated] != 1 || n[http.StatusOK] != racers-1 {
		return fmt.Errorf("%d concurrent conditional creates answered %v (%d resources made), want one 201 and %d × 200",
			racers, n, len(ids), racers-1)
	}
	return nil
}
