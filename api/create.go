package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/store"
)

// create is POST [base]/[type] (http.html#create). The server assigns the id (a UUID); an id
// in the body is ignored, as the specification requires. With If-None-Exist it is a
// conditional create (http.html#ccreate), atomic through store.Write.IfNoneExist: no match
// creates (201), one match returns it unchanged (200), several are HTTP 412. The criteria see
// only what the caller may search (restrictConditions): a match it may not see is no match.
func (a *API) create(c echo.Context) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	typ, err := a.typeParam(c)
	if err != nil {
		return err
	}
	if _, err := a.authorize(c.Request().Context(), AccessRequest{Access: AccessCreate, Type: typ}); err != nil {
		return err
	}
	cond, err := a.ifNoneExist(c.Request().Header, typ)
	if err != nil {
		return err
	}
	if err := a.restrictConditions(c.Request().Context(), cond); err != nil {
		return err
	}
	res, err := a.readResource(c, typ)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	snap := a.snapshot(res)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			res = refresh(res, snap)
		}
		id := newID()
		extra, err := a.runHooks(ctx, InteractionCreate, typ, id, res, nil, false)
		if err != nil {
			return err
		}
		w, err := a.indexedWrite(store.OpCreate, res, typ, id, 1, time.Time{})
		if err != nil {
			return err
		}
		if err := a.authorizeWrite(ctx, AccessCreate, typ, id, nil, w.Index, true); err != nil {
			return err
		}
		w.IfNoneExist = cond
		err = a.store.Write(ctx, withExtra(w, extra)...)
		var exists *store.ExistsError
		switch {
		case err == nil:
			return a.writeWritten(c, f, http.StatusCreated, record(w), "Created")
		case errors.As(err, &exists):
			if len(exists.Matches) != 1 {
				return preconditionFailed("If-None-Exist matched %d or more resources; the criteria are not selective enough", len(exists.Matches))
			}
			m := exists.Matches[0]
			if m.Body == nil { // a backend may return matches without bodies
				if m, err = a.store.Read(ctx, m.Type, m.ID); err != nil {
					return err
				}
			}
			if err := a.authorizeBody(ctx, AccessRead, m.Type, m.ID, m.Body); err != nil {
				return err // the match is not the caller's to see
			}
			return a.writeWritten(c, f, http.StatusOK, m, "Found existing")
		case errors.Is(err, store.ErrVersionConflict) && attempt+1 < maxAttempts:
			continue // the new UUID was taken: draw another
		default:
			return err
		}
	}
}

// ifNoneExist parses the If-None-Exist header: search criteria, optionally preceded by
// "[type]?", as some clients send them.
func (a *API) ifNoneExist(h http.Header, typ string) (*store.Query, error) {
	v := h.Get("If-None-Exist")
	if v == "" {
		return nil, nil
	}
	if i := strings.IndexByte(v, '?'); i >= 0 && !strings.Contains(v[:i], "=") {
		v = v[i+1:]
	}
	q, ok, err := a.parseConditions(typ, v)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, badRequest("If-None-Exist holds no search criteria")
	}
	return &q, nil
}

// ifNoneExist is (*API).ifNoneExist for callers without an *API at hand.
// Deprecated: use the method, which knows the served types and the base URL.
func ifNoneExist(h http.Header, typ string) (*store.Query, error) {
	return conditionsAPI.ifNoneExist(h, typ)
}
