package conformance

import (
	"context"
	"fmt"
	"net/http"
	"slices"
)

// patchChecks cover PATCH with JSON Patch (RFC 6902; R4 http.html#patch) and FHIRPath Patch
// (fhirpatch.html): the result is processed as an update, so versions, validation and
// If-Match apply.
var patchChecks = []check{
	{"replace", checkPatchReplace},
	{"add", checkPatchAdd},
	{"test-fails", checkPatchTestFails},
	{"invalid-result", checkPatchInvalidResult},
	{"malformed", checkPatchMalformed},
	{"if-match-stale", checkPatchIfMatchStale},
	{"fhirpath", checkFHIRPathPatch},
	{"fhirpath-invalid-result", checkFHIRPathPatchInvalidResult},
}

const jsonPatch = "application/json-patch+json"

// patchTarget creates a Patient after checking that PATCH with JSON Patch is claimed.
func (s *session) patchTarget(ctx context.Context) (*created, error) {
	if err := s.requireType("Patient", "patch"); err != nil {
		return nil, err
	}
	if s.caps != nil && len(s.caps.patchFormats) > 0 && !slices.Contains(s.caps.patchFormats, jsonPatch) {
		return nil, skipf("the CapabilityStatement does not list %s in patchFormat", jsonPatch)
	}
	return s.newPatient(ctx)
}

func (s *session) patch(ctx context.Context, c *created, doc string, headers ...string) (*response, error) {
	headers = append([]string{"Content-Type", jsonPatch, "Prefer", "return=representation"}, headers...)
	return s.do(ctx, http.MethodPatch, "Patient/"+c.id, []byte(doc), headers...)
}

// checkPatchReplace: replace changes the element and makes version 2.
func checkPatchReplace(ctx context.Context, s *session) error {
	c, err := s.patchTarget(ctx)
	if err != nil {
		return err
	}
	r, err := s.patch(ctx, c, `[{"op": "replace", "path": "/gender", "value": "male"}]`)
	if err != nil {
		return err
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
	if v != "2" || str(cur, "gender") != "male" {
		return fmt.Errorf("after the patch: version %q, gender %q; want 2 and male", v, str(cur, "gender"))
	}
	return nil
}

// checkPatchAdd: add appends to an array ("-") and creates a missing member.
func checkPatchAdd(ctx context.Context, s *session) error {
	c, err := s.patchTarget(ctx)
	if err != nil {
		return err
	}
	r, err := s.patch(ctx, c, `[
		{"op": "add", "path": "/name/0/given/-", "value": "Grace"},
		{"op": "add", "path": "/maritalStatus", "value": {"coding": [{
			"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Married"}]}}
	]`)
	if err != nil {
		return err
	}
	if err := r.want(http.StatusOK); err != nil {
		return err
	}
	v, cur, err := s.readVersion(ctx, "Patient", c.id)
	if err != nil {
		return err
	}
	given := list(cur, "name", 0, "given")
	if v != "2" || len(given) != 3 || given[2] != "Grace" || str(cur, "maritalStatus", "coding", 0, "code") != "M" {
		return fmt.Errorf("after the patch: version %q, given %v, maritalStatus %q; want 2, [Adaeze Chioma Grace], M",
			v, given, str(cur, "maritalStatus", "coding", 0, "code"))
	}
	return nil
}

// checkPatchTestFails: a failing test operation aborts the whole patch: 422 and no new version.
func checkPatchTestFails(ctx context.Context, s *session) error {
	return s.patchRefused(ctx, `[
		{"op": "test", "path": "/gender", "value": "male"},
		{"op": "replace", "path": "/gender", "value": "other"}
	]`, http.StatusUnprocessableEntity)
}

// checkPatchInvalidResult: a patch whose result is not a valid resource (gender outside its
// required value set) is refused like such an update: 422 and no new version.
func checkPatchInvalidResult(ctx context.Context, s *session) error {
	return s.patchRefused(ctx, `[{"op": "replace", "path": "/gender", "value": "robot"}]`, http.StatusUnprocessableEntity)
}

// checkPatchMalformed: a body that is not a JSON Patch document (an object, not an array of
// operations) is a bad request: 400 and no new version.
func checkPatchMalformed(ctx context.Context, s *session) error {
	return s.patchRefused(ctx, `{"op": "replace", "path": "/gender", "value": "male"}`, http.StatusBadRequest)
}

// checkPatchIfMatchStale: PATCH honours If-Match like update: a stale version gets 412.
func checkPatchIfMatchStale(ctx context.Context, s *session) error {
	return s.patchRefused(ctx, `[{"op": "replace", "path": "/gender", "value": "male"}]`,
		http.StatusPreconditionFailed, "If-Match", `W/"7"`)
}

func (s *session) patchRefused(ctx context.Context, doc string, status int, headers ...string) error {
	c, err := s.patchTarget(ctx)
	if err != nil {
		return err
	}
	r, err := s.patch(ctx, c, doc, headers...)
	if err != nil {
		return err
	}
	if err := r.outcome(status); err != nil {
		return err
	}
	if err := s.wantVersion(ctx, "Patient", c.id, "1"); err != nil {
		return fmt.Errorf("after the refused patch: %w", err)
	}
	return nil
}

// fhirPathTarget creates a Patient after checking that FHIRPath Patch (a Parameters resource,
// sent as application/fhir+json) is claimed in patchFormat.
func (s *session) fhirPathTarget(ctx context.Context) (*created, error) {
	if err := s.requireType("Patient", "patch"); err != nil {
		return nil, err
	}
	if s.caps != nil && !slices.Contains(s.caps.patchFormats, "application/fhir+json") { // no CapabilityStatement: try, as every check does
		return nil, skipf("the CapabilityStatement does not list application/fhir+json (FHIRPath Patch) in patchFormat")
	}
	return s.newPatient(ctx)
}

// fhirPathOp is one operation parameter of a FHIRPath Patch.
func fhirPathOp(typ, path, parts string) string {
	return `{"name": "operation", "part": [{"name": "type", "valueCode": "` + typ + `"}, {"name": "path", "valueString": "` + path + `"}` + parts + `]}`
}

// checkFHIRPathPatch: a FHIRPath Patch replaces an element found by where(...), adds one and
// makes version 2, as the specification's examples do.
func checkFHIRPathPatch(ctx context.Context, s *session) error {
	c, err := s.fhirPathTarget(ctx)
	if err != nil {
		return err
	}
	doc := `{"resourceType": "Parameters", "parameter": [` +
		fhirPathOp("replace", "Patient.name.where(family = 'Okafor').given[0]", `, {"name": "value", "valueString": "Ada"}`) + `, ` +
		fhirPathOp("add", "Patient", `, {"name": "name", "valueString": "maritalStatus"}, {"name": "value", "valueCodeableConcept": {"text": "married"}}`) + `]}`
	r, err := s.do(ctx, http.MethodPatch, "Patient/"+c.id, []byte(doc), "Content-Type", "application/fhir+json", "Prefer", "return=representation")
	if err != nil {
		return err
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
	if given := list(cur, "name", 0, "given"); v != "2" || len(given) == 0 || given[0] != "Ada" || str(cur, "maritalStatus", "text") != "married" {
		return fmt.Errorf("after the patch: version %q, given %v, maritalStatus %q; want 2, Ada first, married", v, given, str(cur, "maritalStatus", "text"))
	}
	return nil
}

// checkFHIRPathPatchInvalidResult: a FHIRPath Patch whose result is not a valid resource is
// refused like such an update: 422 and no new version.
func checkFHIRPathPatchInvalidResult(ctx context.Context, s *session) error {
	c, err := s.fhirPathTarget(ctx)
	if err != nil {
		return err
	}
	doc := `{"resourceType": "Parameters", "parameter": [` + fhirPathOp("replace", "Patient.gender", `, {"name": "value", "valueCode": "robot"}`) + `]}`
	r, err := s.do(ctx, http.MethodPatch, "Patient/"+c.id, []byte(doc), "Content-Type", "application/fhir+json")
	if err != nil {
		return err
	}
	if err := r.outcome(http.StatusUnprocessableEntity); err != nil {
		return err
	}
	if err := s.wantVersion(ctx, "Patient", c.id, "1"); err != nil {
		return fmt.Errorf("after the refused patch: %w", err)
	}
	return nil
}
