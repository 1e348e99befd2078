package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// Search (search.html): GET [base]/[type]?params, POST [base]/[type]/_search (form body merged
// with the URL's parameters), and the system search GET [base]?_type=A,B&params and
// POST [base]/_search. The answer is a Bundle of type searchset; see docs/search.md.

func (a *API) searchType(c echo.Context) error {
	typ, err := a.typeParam(c)
	if err != nil {
		return err
	}
	return a.search(c, []string{typ}, false, c.QueryParams())
}

func (a *API) searchTypePost(c echo.Context) error {
	typ, err := a.typeParam(c)
	if err != nil {
		return err
	}
	params, err := formParams(c)
	if err != nil {
		return err
	}
	return a.search(c, []string{typ}, false, params)
}

func (a *API) searchSystem(c echo.Context) error {
	return a.search(c, nil, true, c.QueryParams())
}

func (a *API) searchSystemPost(c echo.Context) error {
	params, err := formParams(c)
	if err != nil {
		return err
	}
	return a.search(c, nil, true, params)
}

// formParams merges the URL's parameters with an application/x-www-form-urlencoded body.
func formParams(c echo.Context) (url.Values, error) {
	req := c.Request()
	params := url.Values{}
	for k, v := range c.QueryParams() {
		params[k] = append(params[k], v...)
	}
	if req.ContentLength == 0 && req.Header.Get(echo.HeaderContentType) == "" {
		return params, nil
	}
	if err := requireContentType(c, "application/x-www-form-urlencoded"); err != nil {
		return nil, err
	}
	req.Body = http.MaxBytesReader(c.Response(), req.Body, 1<<20)
	if err := req.ParseForm(); err != nil {
		return nil, badRequest("the form body does not parse: %v", err)
	}
	for k, v := range req.PostForm {
		params[k] = append(params[k], v...)
	}
	return params, nil
}

func (a *API) search(c echo.Context, types []string, system bool, params url.Values) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	r, err := a.parseSearch(types, system, params, preferStrict(c.Request().Header))
	if err != nil {
		return err
	}
	r.query.Cursor = params.Get("_cursor")
	ctx := c.Request().Context()
	vis, auth, err := a.authorizeSearch(ctx, r, params.Get("_type") != "")
	if err != nil {
		return err
	}
	page, err := a.store.Search(ctx, r.query)
	if err != nil {
		return err
	}
	// Results are checked one by one also when the filter went into the query: a defensive
	// check against a store or an extractor that disagrees with the policy. Then a record
	// dropped means the store's count cannot be trusted either.
	postFilter := !auth.inQuery
	if auth.restricted {
		n := len(page.Records)
		if page.Records, err = vis.filter(page.Records); err != nil {
			return err
		}
		if len(page.Records) != n && auth.inQuery {
			postFilter = true
			a.log.ErrorContext(ctx, "search: the store returned records outside the token's filter",
				"type", r.query.Types, "dropped", n-len(page.Records))
		}
	}
	if r.countOnly {
		page.Records, page.Next = nil, ""
	}
	total := page.Total
	if !r.query.Total {
		total = -1
		if r.query.Cursor == "" && page.Next == "" && !r.countOnly {
			total = len(page.Records) // known for free: everything is on this page
		}
	} else if postFilter {
		total = -1 // the store counted resources the caller may not see
	}
	var included []store.Record
	if len(r.includes)+len(r.revincludes) > 0 && len(page.Records) > 0 {
		var warn []fhir.Issue
		included, warn, err = a.runIncludes(ctx, r, page.Records)
		if err != nil {
			return err
		}
		r.warnings = append(r.warnings, warn...)
		if a.authz != nil {
			if included, err = a.newVisibility(ctx, AccessSearch).filter(included); err != nil {
				return err
			}
		}
	}
	body, err := a.searchBundle(r, page, total, included)
	if err != nil {
		return err
	}
	return writeJSON(c, f, http.StatusOK, body)
}

// searchLink is the absolute URL of a page of the search: the canonical parameters, and the
// cursor for any page but the first.
func (a *API) searchLink(r *searchRequest, cursor string) string {
	var sb strings.Builder
	sb.WriteString(a.base)
	if !r.system {
		sb.WriteString("/" + r.query.Types[0])
	}
	link := r.canonical
	if cursor != "" {
		link = url.Values{}
		for k, v := range r.canonical {
			link[k] = v
		}
		link.Set("_cursor", cursor)
	}
	sb.WriteString("?")
	sb.WriteString(link.Encode())
	return sb.String()
}

// SUBSETTED is the tag of a resource returned incompletely (_summary, _elements).
const subsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"

// searchBundle encodes the searchset. Stored bodies are spliced in as they are, unless
// _summary or _elements asks for a subset.
func (a *API) searchBundle(r *searchRequest, page store.Page, total int, included []store.Record) ([]byte, error) {
	size := 1024
	for _, rec := range page.Records {
		size += len(rec.Body) + 128
	}
	for _, rec := range included {
		size += len(rec.Body) + 128
	}
	b := make([]byte, 0, size)
	b = append(b, `{"resourceType":"Bundle","id":`...)
	b = appendString(b, newID())
	b = append(b, `,"meta":{"lastUpdated":`...)
	b = appendString(b, fhir.FormatInstant(a.now()))
	b = append(b, `},"type":"searchset"`...)
	if total >= 0 {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, int64(total), 10)
	}
	b = append(b, `,"link":[{"relation":"self","url":`...)
	b = appendString(b, a.searchLink(r, r.query.Cursor))
	b = append(b, '}')
	if page.Next != "" {
		b = append(b, `,{"relation":"next","url":`...)
		b = appendString(b, a.searchLink(r, page.Next))
		b = append(b, '}')
	}
	b = append(b, ']')
	n := 0
	sep := func() {
		if n == 0 {
			b = append(b, `,"entry":[`...)
		} else {
			b = append(b, ',')
		}
		n++
	}
	if len(r.warnings) > 0 {
		sep()
		b = append(b, `{"fullUrl":`...)
		b = appendString(b, "urn:uuid:"+newID())
		b = append(b, `,"resource":`...)
		b = fhir.AppendJSON(b, fhir.Outcome(r.warnings...))
		b = append(b, `,"search":{"mode":"outcome"}}`...)
	}
	for _, mode := range []string{"match", "include"} {
		recs := page.Records
		if mode == "include" {
			recs = included
		}
		for _, rec := range recs {
			sep()
			b = append(b, `{"fullUrl":`...)
			b = appendString(b, a.base+"/"+rec.Type+"/"+rec.ID)
			b = append(b, `,"resource":`...)
			body, err := r.subset(rec)
			if err != nil {
				return nil, err
			}
			b = append(b, body...)
			b = append(b, `,"search":{"mode":"`...)
			b = append(b, mode...)
			b = append(b, `"}}`...)
		}
	}
	if n > 0 {
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// searchAuth is what authorizeSearch found: whether some searched type is restricted by a
// filter, and whether every filter went into the store query as clauses.
type searchAuth struct {
	restricted bool
	inQuery    bool
}

// authorizeSearch asks the Authorizer about the types searched. A type search of a denied
// type is denied; a system search with _type too when any named type is denied, and without
// _type it covers only the allowed types (denied when none is). A restricted type's filter
// goes into the store query as clauses (store.Clause AnyOf expresses every filter of one
// type), so pages are full and Bundle.total is exact; a system search of several types keeps
// each type's filter out of the query and drops results one by one, so its pages may hold
// fewer than _count resources and it reports no total (docs/smart.md). Chains and _has must
// look only into types the caller may search.
func (a *API) authorizeSearch(ctx context.Context, r *searchRequest, namedTypes bool) (vis *visibility, auth searchAuth, err error) {
	auth.inQuery = true
	if a.authz == nil {
		return nil, auth, nil
	}
	vis = a.newVisibility(ctx, AccessSearch)
	var allowed []string
	var firstErr error
	for _, t := range r.query.Types {
		f, err := vis.typeFilter(t)
		if err != nil {
			if !r.system || namedTypes {
				return nil, auth, err
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		allowed = append(allowed, t)
		if f != nil {
			auth.restricted = true
		}
	}
	if len(allowed) == 0 {
		if firstErr == nil {
			firstErr = errorf(http.StatusForbidden, "forbidden", "the token allows searching no resource type")
		}
		return nil, auth, firstErr
	}
	r.query.Types = allowed
	if err := a.authorizeReferencedTypes(ctx, r.query.Where); err != nil {
		return nil, auth, err
	}
	if auth.restricted {
		auth.inQuery = false
		if len(allowed) == 1 {
			if clauses, ok := vis.filters[allowed[0]].Clauses(allowed[0]); ok {
				r.query.Where = append(r.query.Where, clauses...)
				auth.inQuery = true
			}
		}
	}
	return vis, auth, nil
}
