package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// update is PUT [base]/[type]/[id] (http.html#update). The body's id must equal the URL's
// (HTTP 400 otherwise, or when it has none). A resource that does not exist, or is deleted,
// is created at that id (update as create, HTTP 201); otherwise HTTP 200.
func (a *API) update(c echo.Context) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	if _, err := a.authorize(c.Request().Context(), AccessRequest{Access: AccessUpdate, Type: typ, ID: id}); err != nil {
		return err
	}
	pre, err := parsePreconditions(c.Request().Header)
	if err != nil {
		return err
	}
	res, err := a.readResource(c, typ)
	if err != nil {
		return err
	}
	switch bodyID := res.ID(); {
	case bodyID == "":
		return idError("the resource in the body has no id; PUT needs the id of the URL (%s)", id)
	case bodyID != id:
		return idError("the id in the body (%s) is not the id in the URL (%s)", bodyID, id)
	}
	rec, created, err := a.updateLoop(c.Request().Context(), typ, res, pre, func(ctx context.Context) (string, *current, *store.Query, error) {
		return id, nil, nil, nil
	})
	if err != nil {
		return err
	}
	return a.answerUpdate(c, f, rec, created)
}

// conditionalUpdate is PUT [base]/[type]?[criteria] (http.html#cond-update): no match creates
// (at the body's id if it has one, else at a new UUID), one match updates it (a body id must
// be the match's), several are HTTP 412. The create is guarded by IfNoneExist, so a racing
// conditional update cannot create a duplicate. Without criteria it is HTTP 405. The criteria
// see only what the caller may search (restrictConditions).
func (a *API) conditionalUpdate(c echo.Context) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	typ, err := a.typeParam(c)
	if err != nil {
		return err
	}
	q, ok, err := a.parseConditions(typ, c.Request().URL.RawQuery)
	if err != nil {
		return err
	}
	if !ok {
		return needsCriteria("PUT")
	}
	if _, err := a.authorize(c.Request().Context(), AccessRequest{Access: AccessUpdate, Type: typ}); err != nil {
		return err
	}
	if err := a.restrictConditions(c.Request().Context(), &q); err != nil {
		return err
	}
	pre, err := parsePreconditions(c.Request().Header)
	if err != nil {
		return err
	}
	res, err := a.readResource(c, typ)
	if err != nil {
		return err
	}
	bodyID := res.ID()
	if bodyID != "" && !validID(bodyID) {
		return idError("the id in the body (%s) is not a valid resource id", bodyID)
	}
	rec, created, err := a.updateLoop(c.Request().Context(), typ, res, pre, func(ctx context.Context) (string, *current, *store.Query, error) {
		page, err := a.store.Search(ctx, q)
		if err != nil {
			return "", nil, nil, err
		}
		switch len(page.Records) {
		case 0:
			if bodyID != "" {
				return bodyID, nil, &q, nil
			}
			return newID(), &current{}, &q, nil
		case 1:
			m := page.Records[0]
			if bodyID != "" && bodyID != m.ID {
				return "", nil, nil, idError("the id in the body (%s) is not the id of the resource matched (%s)", bodyID, m.ID)
			}
			return m.ID, &current{rec: m, live: true}, nil, nil
		}
		return "", nil, nil, preconditionFailed("the criteria matched more than one %s; they are not selective enough", typ)
	})
	if err != nil {
		return err
	}
	return a.answerUpdate(c, f, rec, created)
}

// target chooses, for one attempt of an update, the id to write, the current state when the
// chooser already knows it (nil: read it), and the IfNoneExist guard of the write.
type target func(ctx context.Context) (id string, cur *current, guard *store.Query, err error)

// updateLoop writes res as the next version of the resource target chooses, re-reading and
// retrying (up to maxAttempts) when a concurrent write wins the race, unless If-Match was
// given: then the lost race is HTTP 412, as the client's version is no longer current.
func (a *API) updateLoop(ctx context.Context, typ string, res *fhir.Resource, pre preconditions, choose target) (rec store.Record, created bool, err error) {
	snap := a.snapshot(res)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return rec, false, err
			}
			res = refresh(res, snap)
		}
		id, cur, guard, err := choose(ctx)
		if err != nil {
			return rec, false, err
		}
		if cur == nil {
			c, err := a.readCurrent(ctx, typ, id)
			if err != nil {
				return rec, false, err
			}
			cur = &c
		}
		if err := pre.check(cur.liveVersion()); err != nil {
			return rec, false, err
		}
		var prev *store.Record
		if cur.live {
			prev = &cur.rec
		}
		extra, err := a.runHooks(ctx, InteractionUpdate, typ, id, res, prev, false)
		if err != nil {
			return rec, false, err
		}
		w, err := a.indexedWrite(store.OpUpdate, res, typ, id, cur.rec.Version+1, cur.rec.LastUpdated)
		if err != nil {
			return rec, false, err
		}
		if err := a.authorizeWrite(ctx, AccessUpdate, typ, id, prev, w.Index, true); err != nil {
			return rec, false, err
		}
		w.IfNoneExist = guard
		err = a.store.Write(ctx, withExtra(w, extra)...)
		if err == nil {
			return record(w), !cur.live, nil
		}
		if err := raceOutcome(err, pre, attempt); err != nil {
			return rec, false, err
		}
	}
}

// raceOutcome decides what a failed write leads to: nil to try again, else the error to return.
func raceOutcome(err error, pre preconditions, attempt int) error {
	switch {
	case !retryable(err):
		return err
	case pre.ifMatch.present:
		e := preconditionFailed("If-Match: the resource was changed by another request")
		e.Err = err
		return e
	case attempt+1 >= maxAttempts:
		return conflictAfterRetries(err)
	}
	return nil
}

func (a *API) answerUpdate(c echo.Context, f format, rec store.Record, created bool) error {
	if created {
		return a.writeWritten(c, f, http.StatusCreated, rec, "Created")
	}
	return a.writeWritten(c, f, http.StatusOK, rec, "Updated")
}

// idError is HTTP 400 about Resource.id.
func idError(format string, args ...any) *Error {
	e := badRequest(format, args...)
	e.Issues[0].Expression = []string{"id"}
	return e
}
