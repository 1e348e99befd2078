package api

import (
	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/policy"
)

// delete is DELETE [base]/[type]/[id] (http.html#delete). It writes a tombstone version and
// answers 204 with the tombstone's ETag. Deleting a resource that is already deleted answers
// 204 again without writing a new version (delete is idempotent); deleting an id that never
// existed, or that the caller may not see, is HTTP 404. If-Match is honoured (a deleted
// resource matches no entity tag).
func (a *API) delete(c echo.Context) error {
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	return a.httpWrite(c, &entry{method: "DELETE", typ: typ, urlID: id, path: []string{typ, id}, url: typ + "/" + id}, policy.PermDelete)
}

// conditionalDelete is DELETE [base]/[type]?[criteria] (http.html#cdelete), "single" mode:
// one match is deleted (204), no match answers 204 (nothing to delete: the state the client
// asked for holds), several are HTTP 412. Without criteria it is HTTP 405. The criteria see
// only what the caller may search: what it may not see is not deleted.
func (a *API) conditionalDelete(c echo.Context) error {
	typ, err := a.typeParam(c)
	if err != nil {
		return err
	}
	q := c.Request().URL.RawQuery
	if _, ok, err := a.parseConditions(typ, q); err != nil {
		return err
	} else if !ok {
		return needsCriteria("DELETE")
	}
	return a.httpWrite(c, &entry{method: "DELETE", typ: typ, path: []string{typ}, url: typ + "?" + q, query: q, hasQ: true}, policy.PermDelete)
}
