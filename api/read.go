package api

import (
	"errors"
	"net/http"
	"strconv"

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
// tombstone's ETag; If-None-Match and If-Modified-Since give HTTP 304.
func (a *API) read(c echo.Context) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := a.authorize(ctx, AccessRequest{Access: AccessRead, Type: typ, ID: id}); err != nil {
		return err
	}
	rec, err := a.store.Read(ctx, typ, id)
	if err != nil {
		return readError(err, rec, typ, id)
	}
	if err := a.authorizeBody(ctx, AccessRead, typ, id, rec.Body); err != nil {
		return err
	}
	return a.answerRead(c, f, rec)
}

// vread is GET [base]/[type]/[id]/_history/[vid] (http.html#vread). Version ids are the
// positive integers the server assigned; anything else names no version (HTTP 404).
func (a *API) vread(c echo.Context) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	vid := c.Param("vid")
	v, err := strconv.ParseInt(vid, 10, 64)
	if err != nil || v < 1 || vid[0] == '+' {
		return notFound("%s/%s has no version %q", typ, id, vid)
	}
	ctx := c.Request().Context()
	if _, err := a.authorize(ctx, AccessRequest{Access: AccessVRead, Type: typ, ID: id}); err != nil {
		return err
	}
	rec, err := a.store.VRead(ctx, typ, id, v)
	if err != nil {
		return readError(err, rec, typ, id)
	}
	if err := a.authorizeBody(ctx, AccessVRead, typ, id, rec.Body); err != nil {
		return err
	}
	return a.answerRead(c, f, rec)
}

func (a *API) answerRead(c echo.Context, f format, rec store.Record) error {
	nm, err := notModified(c.Request().Header, rec)
	if err != nil {
		return err
	}
	if nm {
		setVersionHeaders(c.Response().Header(), rec)
		return c.NoContent(http.StatusNotModified)
	}
	return writeRecord(c, f, http.StatusOK, rec)
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
