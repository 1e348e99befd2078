package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/store"
)

// typeParam is the [type] of the URL; a type that is not served is HTTP 404.
func (a *API) typeParam(c echo.Context) (string, error) {
	typ := c.Param("type")
	if _, ok := a.types[typ]; !ok {
		return "", notFound("resource type %q is not served here", typ)
	}
	return typ, nil
}

// instanceParams are the [type] and [id] of the URL; an id that is not a FHIR id is HTTP 400.
func (a *API) instanceParams(c echo.Context) (typ, id string, err error) {
	if typ, err = a.typeParam(c); err != nil {
		return "", "", err
	}
	id = c.Param("id")
	if !validID(id) {
		return "", "", badRequest("%q is not a valid resource id (1-64 of A-Z a-z 0-9 - .)", id)
	}
	return typ, id, nil
}

// read is GET [base]/[type]/[id] (http.html#read). A deleted resource is HTTP 410 with the
// tombstone's ETag; If-None-Match and If-Modified-Since give HTTP 304. What the caller may not
// see is not found (404), like what does not exist. _summary and _elements return a subset,
// tagged SUBSETTED, as on a search (summary.go).
func (a *API) read(c echo.Context) error {
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	return a.httpRead(c, &entry{method: c.Request().Method, typ: typ, urlID: id, get: getRead,
		path: []string{typ, id}, url: typ + "/" + id, query: c.Request().URL.RawQuery})
}

// vread is GET [base]/[type]/[id]/_history/[vid] (http.html#vread). Version ids are the
// positive integers the server assigned; anything else names no version (HTTP 404).
func (a *API) vread(c echo.Context) error {
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	vid := c.Param("vid")
	return a.httpRead(c, &entry{method: c.Request().Method, typ: typ, urlID: id, get: getVRead,
		path: []string{typ, id, "_history", vid}, url: typ + "/" + id + "/_history/" + vid, query: c.Request().URL.RawQuery})
}

// httpRead answers a read or vread request through the engine's readEntry.
func (a *API) httpRead(c echo.Context, e *entry) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := a.view(ctx)
	if err != nil {
		return err
	}
	e.hdr = c.Request().Header
	if err := a.readEntry(ctx, v, e); err != nil {
		return err
	}
	if e.status == http.StatusNotModified {
		setVersionHeaders(c.Response().Header(), e.rec)
		return c.NoContent(http.StatusNotModified)
	}
	if e.method == http.MethodHead {
		return writeRecord(c, f, http.StatusOK, e.rec)
	}
	setVersionHeaders(c.Response().Header(), e.rec)
	return writeJSON(c, f, http.StatusOK, e.body) // the stored bytes, or the subset asked for
}

// readError maps the error of Read or VRead: 404 for an unknown resource or version, 410
// with the tombstone's headers for a deleted one.
func readError(err error, rec store.Record, typ, id string) error {
	switch {
	case errors.Is(err, store.ErrGone):
		rec.Type, rec.ID = typ, id
		return gone(rec)
	case errors.Is(err, store.ErrNotFound):
		e := notFound("%s/%s is not known", typ, id)
		e.Err = err
		return e
	}
	return err
}
