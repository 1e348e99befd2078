package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/store"
)

// History (http.html#history): GET [base]/[type]/[id]/_history, [base]/[type]/_history and
// [base]/_history answer a Bundle of type history, newest version first. Parameters: _since
// (an instant), _at (an instant; partial dates are not supported yet), _count (default
// Config.DefaultCount, capped at Config.MaxCount) and _cursor, the opaque position of a page
// that the "next" link carries; pages stay exact while new versions are written.

func (a *API) historyInstance(c echo.Context) error {
	typ, id, err := a.instanceParams(c)
	if err != nil {
		return err
	}
	return a.history(c, store.HistoryQuery{Type: typ, ID: id})
}

func (a *API) historyType(c echo.Context) error {
	typ, err := a.typeParam(c)
	if err != nil {
		return err
	}
	return a.history(c, store.HistoryQuery{Type: typ})
}

func (a *API) historySystem(c echo.Context) error {
	return a.history(c, store.HistoryQuery{})
}

func (a *API) history(c echo.Context, q store.HistoryQuery) error {
	f, err := negotiate(c)
	if err != nil {
		return err
	}
	params := c.QueryParams()
	v, err := a.view(c.Request().Context())
	if err != nil {
		return err
	}
	page, err := a.historyPage(c.Request().Context(), v, &q, params)
	if err != nil {
		return err
	}
	return writeJSON(c, f, http.StatusOK, a.historyBundle(c.Request().Context(), q, params, page))
}

// historyPage completes q with the paging and time parameters of params and reads one page of
// history through the caller's view (which decides what of it the caller may see). Both the
// HTTP interaction and Bundle GET entries use it.
func (a *API) historyPage(ctx context.Context, v *guard.View, q *store.HistoryQuery, params url.Values) (store.Page, error) {
	var err error
	if q.Since, err = instantParam(params, "_since"); err != nil {
		return store.Page{}, err
	}
	if q.At, err = instantParam(params, "_at"); err != nil {
		return store.Page{}, err
	}
	if q.Count, err = a.countParam(params); err != nil {
		return store.Page{}, err
	}
	if q.Cursor, err = a.cursors.open(callerScope(ctx)+historyScope(*q), params.Get("_cursor")); err != nil {
		return store.Page{}, err
	}
	page, err := v.History(ctx, *q)
	if err != nil {
		return store.Page{}, err
	}
	if q.Type == "" {
		// System history lists only served FHIR types: the store also holds internal records
		// (SMART apps, users, grants) that must never be listed. A page may come out shorter
		// than _count; the next link still continues after the last record the store read.
		page.Records = slices.DeleteFunc(page.Records, func(r store.Record) bool {
			_, served := a.types[r.Type]
			return !served
		})
	}
	if q.ID != "" && len(page.Records) == 0 && q.Cursor == "" && q.Since.IsZero() && q.At.IsZero() {
		return store.Page{}, notFound("%s/%s is not known", q.Type, q.ID)
	}
	return page, nil
}

// instantParam parses an instant parameter (RFC 3339 with seconds and a time zone). A '+'
// in an unencoded query arrives as a space, so "2024-01-01T00:00:00 01:00" is read as +01:00.
func instantParam(params url.Values, name string) (time.Time, error) {
	v := params.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if len(v) > 19 && v[len(v)-6] == ' ' {
		v = v[:len(v)-6] + "+" + v[len(v)-5:]
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("%s: %q is not an instant such as 2024-05-01T10:00:00Z (partial dates are not supported yet)", name, params.Get(name))
	}
	return t.UTC(), nil
}

// countParam is _count: a positive integer, capped at MaxCount.
func (a *API) countParam(params url.Values) (int, error) {
	v := params.Get("_count")
	if v == "" {
		return a.defaultCount, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badRequest("_count: %q is not a positive integer", v)
	}
	return min(n, a.maxCount), nil
}

// historyBundle encodes the page as a Bundle of type history. Stored bodies are copied in as
// they are, without decoding.
func (a *API) historyBundle(ctx context.Context, q store.HistoryQuery, params url.Values, page store.Page) []byte {
	size := 512
	for _, r := range page.Records {
		size += len(r.Body) + 256
	}
	b := make([]byte, 0, size)
	b = append(b, `{"resourceType":"Bundle","id":`...)
	b = appendString(b, newID())
	b = append(b, `,"meta":{"lastUpdated":`...)
	b = appendString(b, fhir.FormatInstant(a.now()))
	b = append(b, `},"type":"history","link":[{"relation":"self","url":`...)
	b = appendString(b, a.historyLink(q, params, params.Get("_cursor")))
	b = append(b, '}')
	if page.Next != "" {
		b = append(b, `,{"relation":"next","url":`...)
		b = appendString(b, a.historyLink(q, params, a.cursors.seal(callerScope(ctx)+historyScope(q), page.Next)))
		b = append(b, '}')
	}
	b = append(b, ']')
	if page.Total >= 0 {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, int64(page.Total), 10)
	}
	if len(page.Records) > 0 {
		b = append(b, `,"entry":[`...)
		for i, r := range page.Records {
			if i > 0 {
				b = append(b, ',')
			}
			b = a.appendHistoryEntry(b, r)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func (a *API) appendHistoryEntry(b []byte, r store.Record) []byte {
	b = append(b, `{"fullUrl":`...)
	b = appendString(b, a.base+"/"+r.Type+"/"+r.ID)
	if !r.Deleted() {
		b = append(b, `,"resource":`...)
		b = append(b, r.Body...)
	}
	method, url, status := "PUT", r.Type+"/"+r.ID, "200 OK"
	switch {
	case r.Op == store.OpCreate:
		method, url, status = "POST", r.Type, "201 Created"
	case r.Deleted():
		method, status = "DELETE", "204 No Content"
	case r.Version == 1:
		status = "201 Created" // update as create
	}
	b = append(b, `,"request":{"method":`...)
	b = appendString(b, method)
	b = append(b, `,"url":`...)
	b = appendString(b, url)
	b = append(b, `},"response":{"status":`...)
	b = appendString(b, status)
	b = append(b, `,"etag":`...)
	b = appendString(b, etag(r.Version))
	b = append(b, `,"lastModified":`...)
	b = appendString(b, fhir.FormatInstant(r.LastUpdated))
	return append(b, "}}"...)
}

// historyScope binds a history's cursors to it: the type and id, and the time window.
func historyScope(q store.HistoryQuery) string {
	return fmt.Sprintf("history %s/%s since=%d at=%d", q.Type, q.ID, q.Since.UnixNano(), q.At.UnixNano())
}

// historyLink is the absolute URL of a history page: the same query with the given cursor.
// Parameters other than the history ones and _format/_pretty are dropped.
func (a *API) historyLink(q store.HistoryQuery, params url.Values, cursor string) string {
	var sb strings.Builder
	sb.WriteString(a.base)
	if q.Type != "" {
		sb.WriteString("/" + q.Type)
		if q.ID != "" {
			sb.WriteString("/" + q.ID)
		}
	}
	sb.WriteString("/_history")
	link := url.Values{}
	for _, name := range []string{"_since", "_at", "_format", "_pretty"} {
		if v := params.Get(name); v != "" {
			link.Set(name, v)
		}
	}
	link.Set("_count", strconv.Itoa(q.Count))
	if cursor != "" {
		link.Set("_cursor", cursor)
	}
	sb.WriteString("?")
	sb.WriteString(encodeLinkQuery(link))
	return sb.String()
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte { return fhir.AppendJSON(b, fhir.Str(s)) }
