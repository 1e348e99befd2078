package api

import (
	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/policy"
)

// update is PUT [base]/[type]/[id] (http.html#update). The body's id must equal the URL's
// (HTTP 400 otherwise, or when it has none). A resource that does not exist, or is deleted,
// is created at that id (update as create, HTTP 201) for a caller whose update permission is
// not restricted; a restricted caller creates with POST (403: whether something it may not
// see holds that id must not change the answer). Otherwise HTTP 200.
func (a *API) update(c echo.Context) error {
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	return a.httpWrite(c, &entry{method: "PUT", typ: typ, urlID: id, path: []string{typ, id}, url: typ + "/" + id}, policy.PermUpdate)
}

// conditionalUpdate is PUT [base]/[type]?[criteria] (http.html#cond-update): no match creates
// (at the body's id if it has one, else at a new UUID), one match updates it (a body id must
// be the match's), several are HTTP 412. The create is guarded by IfNoneExist, so a racing
// conditional update cannot create a duplicate. Without criteria it is HTTP 405. The criteria
// see only what the caller may search.
func (a *API) conditionalUpdate(c echo.Context) error {
	typ, err := a.typeParam(c)
	if err != nil {
		return err
	}
	q := c.Request().URL.RawQuery
	if _, ok, err := a.parseConditions(typ, q); err != nil {
		return err
	} else if !ok {
		return needsCriteria("PUT")
	}
	return a.httpWrite(c, &entry{method: "PUT", typ: typ, path: []string{typ}, url: typ + "?" + q, query: q, hasQ: true}, policy.PermUpdate)
}
