package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/internal/fhirpatch"
	"github.com/portico-health/portico/internal/jsonpatch"
	"github.com/portico-health/portico/policy"
)

// patch is PATCH [base]/[type]/[id] (http.html#patch) with a JSON Patch document (RFC 6902,
// Content-Type application/json-patch+json) or a FHIRPath Patch (fhirpatch.html: a Parameters
// resource, application/fhir+json). Any other Content-Type is HTTP 415, naming both. Both go
// through one write path: the patch applies to the current version's JSON tree, so member
// order and decimals survive; the result is validated again.
//
// A malformed patch document is HTTP 400; an operation that cannot apply (a failed test, a
// missing path), a result that is not a valid resource, or one whose resourceType or id
// changed, HTTP 422. If-Match is honoured; without it a lost race re-reads the new current
// version and applies the patch to it again.
func (a *API) patch(c echo.Context) error {
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	return a.httpWrite(c, &entry{method: "PATCH", typ: typ, urlID: id, path: []string{typ, id}, url: typ + "/" + id}, policy.PermUpdate)
}

// patchDoc is a decoded patch document, of either format.
type patchDoc interface {
	// apply patches a copy of a resource's tree, whose result may be at most limit bytes; an
	// operation that cannot apply is an *Error (422).
	apply(ctx context.Context, doc fhir.Value, limit int) (fhir.Value, error)
}

// patchFormats names the patch formats for the 415 of any other Content-Type.
const patchFormats = "JSON Patch (Content-Type application/json-patch+json: an array of RFC 6902 operations) or " +
	"FHIRPath Patch (Content-Type application/fhir+json: a Parameters resource of operation parameters)"

// readPatch reads the body of a PATCH request: JSON Patch or FHIRPath Patch, by Content-Type.
func (a *API) readPatch(c echo.Context) (patchDoc, error) {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	switch {
	case contentTypeOK(ct, []string{mimeJSONPatch}):
		data, err := a.readBody(c)
		if err != nil {
			return nil, err
		}
		return decodeJSONPatch(data)
	case contentTypeOK(ct, []string{mimeFHIRJSON, mimeFHIRJSONOld}):
		data, err := a.readBody(c)
		if err != nil {
			return nil, err
		}
		root, err := fhir.ParseJSON(data)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "structure", "the FHIRPath Patch is not JSON: %v", err)
		}
		return decodeFHIRPathPatch(root)
	}
	shown := ct
	if shown == "" {
		shown = "none"
	}
	msg := fmt.Sprintf("Content-Type %s is not a patch format this server supports. PATCH takes %s", shown, patchFormats)
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(mt) == mimeJSON || strings.Contains(mt, "merge-patch") {
		msg += "; JSON Merge Patch (an object of the members to change) is not supported"
	}
	return nil, errorf(http.StatusUnsupportedMediaType, "not-supported", "%s", msg)
}

// jsonPatch is a JSON Patch document.
type jsonPatch jsonpatch.Patch

func decodeJSONPatch(data []byte) (patchDoc, error) {
	p, err := jsonpatch.Decode(data)
	if err != nil {
		e := errorf(http.StatusBadRequest, "structure", "%s", err.Error())
		e.Err = err
		return nil, e
	}
	return jsonPatch(p), nil
}

func (p jsonPatch) apply(_ context.Context, doc fhir.Value, limit int) (fhir.Value, error) {
	out, err := jsonpatch.Patch(p).ApplyLimited(doc, limit)
	if err != nil {
		var ae *jsonpatch.ApplyError
		code := "processing"
		switch {
		case errors.As(err, &ae) && errors.Is(err, jsonpatch.ErrTestFailed):
			code = "conflict"
		case errors.Is(err, jsonpatch.ErrTooLarge):
			code = "too-long"
		case errors.Is(err, jsonpatch.ErrTooCostly):
			code = "too-costly"
		}
		e := errorf(http.StatusUnprocessableEntity, code, "%s", err.Error())
		e.Err = err
		return fhir.Value{}, e
	}
	return out, nil
}

// fhirPathPatch is a FHIRPath Patch.
type fhirPathPatch fhirpatch.Patch

// decodeFHIRPathPatch reads a FHIRPath Patch from a JSON tree: it must be a valid Parameters
// resource (its values are checked like any resource's) whose parameters are operations this
// server supports; otherwise HTTP 400.
func decodeFHIRPathPatch(root fhir.Value) (patchDoc, error) {
	if rt := root.Get("resourceType"); root.Kind != fhir.Object || rt == nil || rt.Text != "Parameters" {
		return nil, errorf(http.StatusBadRequest, "structure",
			"a FHIRPath Patch is a Parameters resource (PATCH takes %s; JSON Merge Patch is not supported)", patchFormats)
	}
	if _, err := fhir.ResourceFromValue(root); err != nil {
		var ve *fhir.ValidationError
		if errors.As(err, &ve) {
			return nil, &Error{Status: http.StatusBadRequest, Issues: ve.Issues, Err: err}
		}
		return nil, err
	}
	p, err := fhirpatch.Decode(root)
	if err != nil {
		code := "structure"
		if de := (*fhirpatch.DocumentError)(nil); errors.As(err, &de) && de.Unsupported {
			code = "not-supported" // FHIRPath beyond the subset patch paths evaluate
		}
		e := errorf(http.StatusBadRequest, code, "%s", err.Error())
		e.Err = err
		return nil, e
	}
	return fhirPathPatch(p), nil
}

func (p fhirPathPatch) apply(ctx context.Context, doc fhir.Value, limit int) (fhir.Value, error) {
	out, err := fhirpatch.Patch(p).Apply(ctx, doc, limit)
	if err != nil {
		if ctx.Err() != nil {
			return fhir.Value{}, err
		}
		code := "processing"
		switch {
		case errors.Is(err, fhirpatch.ErrTooLarge):
			code = "too-long"
		case errors.Is(err, fhirpatch.ErrTooCostly):
			code = "too-costly"
		}
		e := errorf(http.StatusUnprocessableEntity, code, "%s", err.Error())
		e.Err = err
		return fhir.Value{}, e
	}
	return out, nil
}

// applyPatch applies p to a stored resource and validates the result, which may be no larger
// than limit bytes (the request body limit: a resource no client could have sent).
func applyPatch(ctx context.Context, p patchDoc, body []byte, typ, id string, limit int) (*fhir.Resource, error) {
	root, err := fhir.ParseJSON(body)
	if err != nil {
		return nil, fmt.Errorf("api: stored %s/%s does not parse: %w", typ, id, err)
	}
	out, err := p.apply(ctx, root, limit)
	if err != nil {
		return nil, err
	}
	if out.Kind != fhir.Object {
		return nil, errorf(http.StatusUnprocessableEntity, "processing", "the patched document is not a JSON object")
	}
	for _, m := range [...]struct{ name, want string }{{"resourceType", typ}, {"id", id}} {
		if v := out.Get(m.name); v == nil || v.Kind != fhir.String || v.Text != m.want {
			e := errorf(http.StatusUnprocessableEntity, "processing", "a patch may not change or remove %s", m.name)
			e.Issues[0].Expression = []string{m.name}
			return nil, e
		}
	}
	res, err := fhir.ResourceFromValue(out)
	if err != nil {
		var ve *fhir.ValidationError
		if errors.As(err, &ve) { // readable or not, it is the result of a well-formed patch: 422
			return nil, &Error{Status: http.StatusUnprocessableEntity, Issues: ve.Issues, Err: err}
		}
		return nil, err
	}
	return res, nil
}
