package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/internal/jsonpatch"
	"github.com/portico-health/portico/policy"
)

// patch is PATCH [base]/[type]/[id] with a JSON Patch document (http.html#patch, RFC 6902;
// Content-Type application/json-patch+json, else HTTP 415). The patch applies to the current
// version's JSON tree, so member order and decimals survive; the result is validated again.
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

// readPatch reads a JSON Patch request body.
func (a *API) readPatch(c echo.Context) (jsonpatch.Patch, error) {
	if err := requireContentType(c, mimeJSONPatch); err != nil {
		return nil, err
	}
	data, err := a.readBody(c)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch.Decode(data)
	if err != nil {
		e := errorf(http.StatusBadRequest, "structure", "%s", err.Error())
		e.Err = err
		return nil, e
	}
	return p, nil
}

// applyPatch applies p to a stored resource and validates the result, which may be no larger
// than limit bytes (the request body limit: a resource no client could have sent).
func applyPatch(p jsonpatch.Patch, body []byte, typ, id string, limit int) (*fhir.Resource, error) {
	root, err := fhir.ParseJSON(body)
	if err != nil {
		return nil, fmt.Errorf("api: stored %s/%s does not parse: %w", typ, id, err)
	}
	out, err := p.ApplyLimited(root, limit)
	if err != nil {
		var ae *jsonpatch.ApplyError
		code := "processing"
		switch {
		case errors.As(err, &ae) && errors.Is(err, jsonpatch.ErrTestFailed):
			code = "conflict"
		case errors.Is(err, jsonpatch.ErrTooLarge):
			code = "too-long"
		}
		e := errorf(http.StatusUnprocessableEntity, code, "%s", err.Error())
		e.Err = err
		return nil, e
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
