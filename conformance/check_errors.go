package conformance

import (
	"context"
	"net/http"
	"slices"
	"strings"
)

// errorChecks send requests a server must refuse, and require the status R4 http.html gives for
// each and an OperationOutcome saying why.
var errorChecks = []check{
	{"invalid-json", checkInvalidJSON},
	{"unknown-element", checkUnknownElement},
	{"wrong-resource-type", checkWrongResourceType},
	{"update-without-id", checkUpdateWithoutID},
	{"update-id-mismatch", checkUpdateIDMismatch},
	{"unknown-type", checkUnknownType},
	{"unknown-id", checkUnknownID},
	{"not-acceptable", checkNotAcceptable},
	{"unsupported-media-type", checkUnsupportedMediaType},
	{"method-not-allowed", checkMethodNotAllowed},
	{"too-large", checkTooLarge},
	{"missing-required", checkMissingRequired},
	{"invalid-code", checkInvalidCode},
}

// refused sends a request that must fail with status and an OperationOutcome. Should the server
// create something anyway, it is deleted after the check.
func (s *session) refused(ctx context.Context, status int, method, path string, body []byte, headers ...string) error {
	r, err := s.do(ctx, method, path, body, headers...)
	if err != nil {
		return err
	}
	if r.status == http.StatusCreated {
		for _, typ := range []string{"Patient", "Observation"} {
			if id, _ := parseLocation(r.header.Get("Location"), typ); id != "" {
				s.track(typ, id)
			}
		}
	}
	return r.outcome(status)
}

// checkInvalidJSON: a body that is not JSON cannot be parsed: 400.
func checkInvalidJSON(ctx context.Context, s *session) error {
	return s.refused(ctx, http.StatusBadRequest, http.MethodPost, "Patient",
		[]byte(`{"resourceType": "Patient", "active": tru`))
}

// checkUnknownElement: an element R4 does not define is rejected, not silently dropped (which
// would lose data the client thinks is stored): 400.
func checkUnknownElement(ctx context.Context, s *session) error {
	body := edit(fixture("patient.json", "value", s.nextValue()), func(r obj) { r["favouriteColour"] = "teal" })
	return s.refused(ctx, http.StatusBadRequest, http.MethodPost, "Patient", body)
}

// checkWrongResourceType: an Observation POSTed to [base]/Patient: 400.
func checkWrongResourceType(ctx context.Context, s *session) error {
	return s.refused(ctx, http.StatusBadRequest, http.MethodPost, "Patient",
		fixture("observation.json", "value", s.nextValue()))
}

// checkUpdateWithoutID: "If no id element is provided ... the server SHALL respond with an
// HTTP 400 error code" (R4 http.html#update).
func checkUpdateWithoutID(ctx context.Context, s *session) error {
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	return s.refused(ctx, http.StatusBadRequest, http.MethodPut, "Patient/"+c.id,
		fixture("patient.json", "value", c.value))
}

// checkUpdateIDMismatch: "... or the id disagrees with the id in the URL ... 400".
func checkUpdateIDMismatch(ctx context.Context, s *session) error {
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	return s.refused(ctx, http.StatusBadRequest, http.MethodPut, "Patient/"+c.id,
		withID(fixture("patient.json", "value", c.value), "Patient", s.nextValue()))
}

// checkUnknownType: a type the server does not serve: 404 ("resource type not supported").
func checkUnknownType(ctx context.Context, s *session) error {
	return s.refused(ctx, http.StatusNotFound, http.MethodGet, "NoSuchResourceType/"+s.nextValue(), nil)
}

// checkUnknownID: a read of an id that never existed: 404.
func checkUnknownID(ctx context.Context, s *session) error {
	return s.refused(ctx, http.StatusNotFound, http.MethodGet, "Patient/"+s.nextValue(), nil)
}

// checkNotAcceptable: a client that accepts XML only, from a server without XML: 406.
func checkNotAcceptable(ctx context.Context, s *session) error {
	if s.caps != nil && slices.ContainsFunc(s.caps.formats, func(f string) bool { return strings.Contains(f, "xml") }) {
		return skipf("the server claims XML")
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	return s.refused(ctx, http.StatusNotAcceptable, http.MethodGet, "Patient/"+c.id, nil,
		"Accept", "application/fhir+xml, application/xml;q=0.9")
}

// checkUnsupportedMediaType: a body labelled text/plain is not a FHIR resource, even when its
// text happens to be one: 415.
func checkUnsupportedMediaType(ctx context.Context, s *session) error {
	return s.refused(ctx, http.StatusUnsupportedMediaType, http.MethodPost, "Patient",
		fixture("patient.json", "value", s.nextValue()), "Content-Type", "text/plain")
}

// checkMethodNotAllowed: POST to an instance is no FHIR interaction: 405.
func checkMethodNotAllowed(ctx context.Context, s *session) error {
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	return s.refused(ctx, http.StatusMethodNotAllowed, http.MethodPost, "Patient/"+c.id,
		withID(fixture("patient.json", "value", c.value), "Patient", c.id))
}

// checkMissingRequired: an Observation without status (1..1) breaks a rule of readable
// content: 422.
func checkMissingRequired(ctx context.Context, s *session) error {
	body := edit(fixture("observation.json", "value", s.nextValue()), func(r obj) { delete(r, "status") })
	return s.refused(ctx, http.StatusUnprocessableEntity, http.MethodPost, "Observation", body)
}

// checkInvalidCode: Patient.gender "robot" is outside its required value set: 422.
func checkInvalidCode(ctx context.Context, s *session) error {
	body := edit(fixture("patient.json", "value", s.nextValue()), func(r obj) { r["gender"] = "robot" })
	return s.refused(ctx, http.StatusUnprocessableEntity, http.MethodPost, "Patient", body)
}
