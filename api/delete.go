package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/store"
)

// delete is DELETE [base]/[type]/[id] (http.html#delete). It writes a tombstone version and
// answers 204 with the tombstone's ETag. Deleting a resource that is already deleted answers
// 204 again without writing a new version (delete is idempotent); deleting an id that never
// existed is HTTP 404. If-Match is honoured (a deleted resource matches no entity tag).
func (a *API) delete(c echo.Context) error {
	if _, err := negotiate(c); err != nil {
		return err
	}
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	if _, err := a.authorize(c.Request().Context(), AccessRequest{Access: AccessDelete, Type: typ, ID: id}); err != nil {
		return err
	}
	pre, err := parsePreconditions(c.Request().Header)
	if err != nil {
		return err
	}
	return a.deleteLoop(c, pre, func(ctx context.Context) (*current, error) {
		cur, err := a.readCurrent(ctx, typ, id)
		if err != nil {
			return nil, err
		}
		if cur.rec.Version == 0 {
			return nil, notFound("%s/%s is not known", typ, id)
		}
		cur.rec.Type, cur.rec.ID = typ, id
		return &cur, nil
	})
}

// conditionalDelete is DELETE [base]/[type]?[criteria] (http.html#cdelete), "single" mode:
// one match is deleted (204), no match answers 204 (nothing to delete: the state the client
// asked for holds), several are HTTP 412. Without criteria it is HTTP 405. The criteria see
// only what the caller may search (restrictConditions): what it may not see is not deleted.
func (a *API) conditionalDelete(c echo.Context) error {
	if _, err := negotiate(c); err != nil {
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
		return needsCriteria("DELETE")
	}
	if _, err := a.authorize(c.Request().Context(), AccessRequest{Access: AccessDelete, Type: typ}); err != nil {
		return err
	}
	if err := a.restrictConditions(c.Request().Context(), &q); err != nil {
		return err
	}
	pre, err := parsePreconditions(c.Request().Header)
	if err != nil {
		return err
	}
	return a.deleteLoop(c, pre, func(ctx context.Context) (*current, error) {
		page, err := a.store.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		switch len(page.Records) {
		case 0:
			return nil, nil
		case 1:
			return &current{rec: page.Records[0], live: true}, nil
		}
		return nil, preconditionFailed("the criteria matched more than one %s; they are not selective enough", typ)
	})
}

// deleteLoop writes a tombstone after the resource choose returns (nil: nothing to delete),
// retrying lost races as updateLoop does.
func (a *API) deleteLoop(c echo.Context, pre preconditions, choose func(context.Context) (*current, error)) error {
	ctx := c.Request().Context()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		cur, err := choose(ctx)
		if err != nil {
			return err
		}
		if err := pre.check(liveVersionOf(cur)); err != nil {
			return err
		}
		if cur == nil {
			return c.NoContent(http.StatusNoContent)
		}
		if !cur.live { // already deleted: no new version
			setVersionHeaders(c.Response().Header(), cur.rec)
			return c.NoContent(http.StatusNoContent)
		}
		if err := a.authorizeWrite(ctx, AccessDelete, cur.rec.Type, cur.rec.ID, &cur.rec, nil, false); err != nil {
			return err
		}
		extra, err := a.runHooks(ctx, InteractionDelete, cur.rec.Type, cur.rec.ID, nil, &cur.rec, false)
		if err != nil {
			return err
		}
		w := store.Write{
			Op:          store.OpDelete,
			Type:        cur.rec.Type,
			ID:          cur.rec.ID,
			Version:     cur.rec.Version + 1,
			LastUpdated: a.stamp(cur.rec.LastUpdated),
		}
		err = a.store.Write(ctx, withExtra(w, extra)...)
		if err == nil {
			setVersionHeaders(c.Response().Header(), record(w))
			return c.NoContent(http.StatusNoContent)
		}
		if err := raceOutcome(err, pre, attempt); err != nil {
			return err
		}
	}
}

func liveVersionOf(cur *current) int64 {
	if cur == nil {
		return 0
	}
	return cur.liveVersion()
}
