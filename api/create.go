package api

import (
	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/policy"
)

// The HTTP write interactions. Each builds the entry a Bundle would carry and runs it through
// the engine (engine.go), so that a write means the same over HTTP and in a batch or
// transaction. Every handler asks the caller's view whether the interaction is allowed on the
// type before reading the body, so that a refused request costs no parsing.

// create is POST [base]/[type] (http.html#create). The server assigns the id (a UUID); an id
// in the body is ignored, as the specification requires. With If-None-Exist it is a
// conditional create (http.html#ccreate), atomic through store.Write.IfNoneExist: no match
// creates (201), one match returns it unchanged (200), several are HTTP 412. The criteria see
// only what the caller may search: a match it may not see is no match.
//
// Search criteria in the URL (POST [base]/Patient?identifier=x, how fhirpy sends a
// conditional create) are taken as If-None-Exist, never ignored: ignoring them would create
// the duplicate the client asked to avoid. Criteria in both places are HTTP 400.
func (a *API) create(c echo.Context) error {
	typ, err := a.typeParam(c)
	if err != nil {
		return err
	}
	e := &entry{method: "POST", typ: typ, path: []string{typ}, url: typ}
	if q := c.Request().URL.RawQuery; hasCriteria(q) {
		if c.Request().Header.Get("If-None-Exist") != "" {
			return badRequest("search criteria are given both in the URL and in If-None-Exist; give them in one place")
		}
		e.url, e.query, e.hasQ = typ+"?"+q, q, true
	}
	return a.httpWrite(c, e, policy.PermCreate)
}

// httpWrite runs the write entry e of an HTTP request and answers it.
func (a *API) httpWrite(c echo.Context, e *entry, perm policy.Perm) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := a.view(ctx)
	if err != nil {
		return err
	}
	if err := v.Can(e.typ, perm); err != nil {
		return err
	}
	e.hdr = c.Request().Header
	switch e.method {
	case "POST", "PUT":
		if e.res, err = a.readResource(c, e.typ, e.method == "POST"); err != nil {
			return err
		}
		e.bodyID = e.res.ID()
	case "PATCH":
		if e.patch, err = a.readPatch(c); err != nil {
			return err
		}
	}
	if err := a.runEntry(ctx, v, e, nil); err != nil {
		return err
	}
	return a.answerWrite(c, f, e)
}

// answerWrite answers a write entry: 201 or 200 with the resource (as Prefer asks), or 204
// for a delete, with the version's ETag when there is one.
func (a *API) answerWrite(c echo.Context, f format, e *entry) error {
	if e.method == "DELETE" {
		if e.hasRec {
			setVersionHeaders(c.Response().Header(), e.rec)
		}
		return c.NoContent(e.status)
	}
	what := map[string]string{"POST": "Created", "PUT": "Updated", "PATCH": "Patched"}[e.method]
	switch {
	case e.method == "POST" && e.matched != nil:
		what = "Found existing"
	case e.status == 201:
		what = "Created"
	}
	return a.writeWritten(c, f, e.status, e.rec, what)
}
