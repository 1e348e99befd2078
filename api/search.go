package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/policy"
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
	r.cursor, r.caller = params.Get("_cursor"), callerScope(c.Request().Context())
	if r.query.Cursor, err = a.cursors.open(r.caller+searchScope(r), r.cursor); err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := a.view(ctx)
	if err != nil {
		return err
	}
	if system && params.Get("_type") == "" {
		// Without _type, a system search covers the types the caller may search.
		allowed := r.query.Types[:0:0]
		for _, t := range r.query.Types {
			if v.Can(t, policy.PermSearch) == nil {
				allowed = append(allowed, t)
			}
		}
		if len(allowed) == 0 {
			return policy.Deny("the token allows searching no resource type")
		}
		r.query.Types = allowed
	}
	page, err := v.Search(ctx, r.query)
	if err != nil {
		return err
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
	}
	var included []store.Record
	if len(r.includes)+len(r.revincludes) > 0 && len(page.Records) > 0 {
		var warn []fhir.Issue
		included, warn, err = a.runIncludes(ctx, v, r, page.Records)
		if err != nil {
			return err
		}
		r.warnings = append(r.warnings, warn...)
	}
	body, err := a.searchBundle(r, page, total, included)
	if err != nil {
		return err
	}
	return writeJSON(c, f, http.StatusOK, body)
}

// callerScope binds a cursor to the caller it was given to (its client, user and patient): another
// caller's token cannot page with it, and so cannot learn where the first one's page ended.
func callerScope(ctx context.Context) string {
	p, ok := policy.PrincipalFrom(ctx)
	if !ok {
		return "open "
	}
	return "caller " + strings.Join([]string{p.ClientID, p.Subject, p.Service, p.FHIRUser, p.Patient}, "\x00") + " "
}

// searchScope binds a search's cursors to it: the types and the criteria, not the page size
// or the format, which a client may change between pages.
func searchScope(r *searchRequest) string {
	v := url.Values{}
	for k, vs := range r.canonical {
		if k != "_count" && k != "_format" && k != "_pretty" {
			v[k] = vs
		}
	}
	return "search " + strings.Join(r.query.Types, ",") + "?" + v.Encode()
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
	sb.WriteString(encodeLinkQuery(link))
	return sb.String()
}

// encodeLinkQuery is url.Values.Encode (sorted by key) with the characters RFC 3986 allows in
// a query and that mean nothing to a form decoder left as they are: the commas of
// _type=Patient,Practitioner or of an OR'ed value, the colons of modifiers and _include, the
// slashes of references. Clients (and the official validator, which reads the self link's
// _type) see the search as it was asked, and a client following the link decodes the same
// parameters. '|', '+', '&', '=', ';' and '%' stay escaped.
func encodeLinkQuery(v url.Values) string {
	return linkUnescaper.Replace(v.Encode())
}

// linkUnescaper undoes QueryEscape for ',', ':', '/' and '$'. An escaped '%' is "%25", so
// "%2C" in the output of QueryEscape is always an escaped comma.
var linkUnescaper = strings.NewReplacer("%2C", ",", "%3A", ":", "%2F", "/", "%24", "$")

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
	b = appendString(b, a.searchLink(r, r.cursor))
	b = append(b, '}')
	if page.Next != "" {
		b = append(b, `,{"relation":"next","url":`...)
		b = appendString(b, a.searchLink(r, a.cursors.seal(r.caller+searchScope(r), page.Next)))
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
