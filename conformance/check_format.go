package conformance

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
)

// formatChecks cover content negotiation (R4 http.html#mime-type): _format overriding Accept,
// plain JSON media types, the fhirVersion parameter, and _pretty.
var formatChecks = []check{
	{"format-json", checkFormatJSON},
	{"format-mime-type", checkFormatMimeType},
	{"format-overrides-accept", checkFormatOverridesAccept},
	{"format-unsupported", checkFormatUnsupported},
	{"pretty", checkPretty},
	{"accept-json", checkAcceptJSON},
	{"accept-fhir-version", checkAcceptFHIRVersion},
	{"accept-any", checkAcceptAny},
	{"content-type-json", checkContentTypeJSON},
	{"content-type-charset", checkContentTypeCharset},
}

// readAs reads a new Patient with the given query and headers, requiring 200 and a Patient
// labelled application/fhir+json.
func (s *session) readAs(ctx context.Context, query string, headers ...string) (*response, obj, error) {
	if err := s.requireType("Patient", "read"); err != nil {
		return nil, nil, err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s.read(ctx, "Patient/"+c.id+query, "Patient", headers...)
}

// checkFormatJSON: _format=json (the CapabilityStatement.format code) selects FHIR JSON.
func checkFormatJSON(ctx context.Context, s *session) error {
	_, _, err := s.readAs(ctx, "?_format=json", "Accept", "")
	return err
}

// checkFormatMimeType: _format may also be the media type itself.
func checkFormatMimeType(ctx context.Context, s *session) error {
	_, _, err := s.readAs(ctx, "?_format=application/fhir%2Bjson", "Accept", "")
	return err
}

// checkFormatOverridesAccept: _format exists for clients that cannot set Accept, so it wins
// over an Accept the server cannot satisfy.
func checkFormatOverridesAccept(ctx context.Context, s *session) error {
	_, _, err := s.readAs(ctx, "?_format=json", "Accept", "application/fhir+xml")
	return err
}

// checkFormatUnsupported: _format naming a format the server does not produce (XML, from a
// JSON-only server) is refused like such an Accept: 406.
func checkFormatUnsupported(ctx context.Context, s *session) error {
	if s.caps != nil && slices.ContainsFunc(s.caps.formats, func(f string) bool { return strings.Contains(f, "xml") }) {
		return skipf("the server claims XML")
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	return s.refused(ctx, http.StatusNotAcceptable, http.MethodGet, "Patient/"+c.id+"?_format=xml", nil)
}

// checkPretty: _pretty=true indents the response, which still says the same.
func checkPretty(ctx context.Context, s *session) error {
	r, pretty, err := s.readAs(ctx, "?_pretty=true")
	if err != nil {
		return err
	}
	if !bytes.Contains(r.body, []byte("\n ")) {
		return fmt.Errorf("%s: the body is not indented", r)
	}
	_, compact, err := s.read(ctx, "Patient/"+str(pretty, "id"), "Patient")
	if err != nil {
		return err
	}
	if err := sameResource(compact, pretty); err != nil {
		return fmt.Errorf("%s: the indented resource differs from the compact one: %w", r, err)
	}
	return nil
}

// checkAcceptJSON: a generic JSON client (Accept: application/json) gets JSON, labelled
// application/json or application/fhir+json.
func checkAcceptJSON(ctx context.Context, s *session) error {
	if err := s.requireType("Patient", "read"); err != nil {
		return err
	}
	c, err := s.newPatient(ctx)
	if err != nil {
		return err
	}
	r, err := s.do(ctx, http.MethodGet, "Patient/"+c.id, nil, "Accept", "application/json")
	if err != nil {
		return err
	}
	if err := r.want(http.StatusOK); err != nil {
		return err
	}
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if mt != "application/json" && mt != "application/fhir+json" {
		return fmt.Errorf("%s: Content-Type %q, want application/json or application/fhir+json", r, r.header.Get("Content-Type"))
	}
	v, err := decodeJSON(r.body)
	if err != nil || str(v, "resourceType") != "Patient" {
		return fmt.Errorf("%s: body is not a Patient", r)
	}
	return nil
}

// checkAcceptFHIRVersion: the fhirVersion parameter of the media type (R4 versioning.html#mt-version)
// naming R4 is satisfiable.
func checkAcceptFHIRVersion(ctx context.Context, s *session) error {
	_, _, err := s.readAs(ctx, "", "Accept", "application/fhir+json; fhirVersion=4.0")
	return err
}

// checkAcceptAny: Accept */* and no Accept at all get FHIR JSON.
func checkAcceptAny(ctx context.Context, s *session) error {
	r, _, err := s.readAs(ctx, "", "Accept", "*/*")
	if err != nil {
		return err
	}
	_, _, err = s.read(ctx, r.path, "Patient", "Accept", "")
	return err
}

// checkContentTypeJSON: a resource sent as application/json is accepted.
func checkContentTypeJSON(ctx context.Context, s *session) error {
	return s.createAs(ctx, "application/json")
}

// checkContentTypeCharset: a charset parameter on the content type is accepted.
func checkContentTypeCharset(ctx context.Context, s *session) error {
	return s.createAs(ctx, "application/fhir+json; charset=utf-8")
}

func (s *session) createAs(ctx context.Context, contentType string) error {
	_, err := s.create(ctx, "Patient", fixture("patient.json", "value", s.nextValue()), "Content-Type", contentType)
	return err
}
