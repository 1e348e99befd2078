package conformance

import (
	"context"
	"fmt"
	"net/http"
)

// fidelityChecks store resources that exercise what is easy to lose — decimal precision,
// primitive extensions (_birthDate, _given with null), extensions, contained resources, choice
// types, time zones, non-ASCII and escaped text — and require them back as sent.
var fidelityChecks = []check{
	{"patient-round-trip", checkPatientRoundTrip},
	{"observation-round-trip", checkObservationRoundTrip},
	{"update-round-trip", checkUpdateRoundTrip},
}

// roundTrip creates body and compares it with the create response and with a read.
func (s *session) roundTrip(ctx context.Context, typ string, body []byte) error {
	if err := s.requireType(typ, "create", "read"); err != nil {
		return err
	}
	sent, err := decodeJSON(body)
	if err != nil {
		return fmt.Errorf("fixture: %v", err)
	}
	c, err := s.create(ctx, typ, body)
	if err != nil {
		return err
	}
	if res, err := c.resp.resource(typ); err != nil {
		return fmt.Errorf("asked for Prefer: return=representation: %w", err)
	} else if err := sameResource(sent.(obj), res); err != nil {
		return fmt.Errorf("%s: %w", c.resp, err)
	}
	r, res, err := s.read(ctx, typ+"/"+c.id, typ)
	if err != nil {
		return err
	}
	if err := sameResource(sent.(obj), res); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	return nil
}

func checkPatientRoundTrip(ctx context.Context, s *session) error {
	return s.roundTrip(ctx, "Patient", fixture("patient-fidelity.json", "value", s.nextValue()))
}

func checkObservationRoundTrip(ctx context.Context, s *session) error {
	p, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	return s.roundTrip(ctx, "Observation", fixture("observation-fidelity.json", "value", s.nextValue(), "patient", p.id))
}

// checkUpdateRoundTrip: what an update stores comes back as sent, as for create.
func checkUpdateRoundTrip(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "update", "read"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	body := withID(fixture("patient-fidelity.json", "value", c.value), "Patient", c.id)
	sent, err := decodeJSON(body)
	if err != nil {
		return fmt.Errorf("fixture: %v", err)
	}
	r, err := s.do(ctx, http.MethodPut, "Patient/"+c.id, body)
	if err != nil {
		return err
	}
	if err := r.want(http.StatusOK); err != nil {
		return err
	}
	r, res, err := s.read(ctx, "Patient/"+c.id, "Patient")
	if err != nil {
		return err
	}
	if err := sameResource(sent.(obj), res); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	return nil
}
