package api

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
)

// readBody reads the request body, at most MaxBodyBytes of it. A body that declares or turns
// out to be larger is HTTP 413, answered without reading the rest (net/http then closes the
// connection rather than drain it).
func (a *API) readBody(c echo.Context) ([]byte, error) {
	req := c.Request()
	if req.ContentLength > a.maxBody {
		return nil, tooLarge(a.maxBody)
	}
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength) + 1)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(c.Response(), req.Body, a.maxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, tooLarge(a.maxBody)
		}
		return nil, badRequest("the request body could not be read")
	}
	return buf.Bytes(), nil
}

func tooLarge(limit int64) *Error {
	return errorf(http.StatusRequestEntityTooLarge, "too-costly", "the request body exceeds the limit of %d bytes", limit)
}

// readResource checks the Content-Type, reads and validates the body as a resource of the
// type in the URL. Unreadable content is HTTP 400, invalid content 422, a resourceType other
// than the URL's 400. For a create (ignoreID), the body's id is dropped first (dropBodyID).
func (a *API) readResource(c echo.Context, typ string, ignoreID bool) (*fhir.Resource, error) {
	if err := requireResourceBody(c); err != nil {
		return nil, err
	}
	data, err := a.readBody(c)
	if err != nil {
		return nil, err
	}
	root, err := fhir.ParseJSON(data)
	if err != nil {
		return nil, &fhir.ValidationError{Issues: []fhir.Issue{{Severity: "error", Code: "structure", Diagnostics: err.Error()}}}
	}
	if ignoreID {
		dropBodyID(&root)
	}
	res, err := fhir.ResourceFromValue(root)
	if err != nil {
		return nil, err
	}
	if rt := res.Type(); rt != typ {
		e := badRequest("the resourceType in the body (%s) is not the type in the URL (%s)", rt, typ)
		e.Issues[0].Expression = []string{"resourceType"}
		return nil, e
	}
	return res, nil
}

// dropBodyID removes the id (and its _id) of a resource to create, before it is validated:
// the server assigns the id and ignores the client's (http.html#create), so an id that is too
// long or malformed is replaced like any other, not a reason to refuse the resource.
func dropBodyID(root *fhir.Value) {
	if root.Kind == fhir.Object {
		root.Delete("id")
		root.Delete("_id")
	}
}
