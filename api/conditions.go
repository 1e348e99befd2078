package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-health/portico/store"
)

// Conditional interactions (http.html#ccreate, #cond-update, #cdelete) select resources with
// search parameters, parsed by the search parser. They are strict: an unknown parameter, a
// result parameter (_count, _sort, ...) or an empty value is HTTP 400 rather than ignored,
// which would widen the match.

// resultParams are control parameters that may appear in a conditional URL without being
// search criteria.
var resultParams = map[string]bool{"_format": true, "_pretty": true}

// parseConditions turns the criteria of a conditional request (the query string of the URL,
// or the If-None-Exist header) into a store.Query. ok is false when no criteria were given.
// The query asks for two results, which tell 0, 1 and "more than one" apart.
func (a *API) parseConditions(typ, rawQuery string) (q store.Query, ok bool, err error) {
	rawQuery = strings.TrimPrefix(rawQuery, "?")
	q = store.Query{Types: []string{typ}, Count: 2}
	p := &searchParser{a: a, strict: true}
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil {
			return q, false, badRequest("the search criteria are not correctly URL-encoded")
		}
		if resultParams[name] {
			continue
		}
		if resultParamNames[name] {
			e := badRequest("%s is not a search criterion and is not allowed in a conditional interaction", name)
			e.Issues[0].Code = "not-supported"
			return q, false, e
		}
		if value == "" {
			return q, false, badRequest("%s: an empty value is not allowed in a conditional interaction", name)
		}
		clause, err := p.clause(q.Types, name, value)
		if errors.Is(err, errUnknownParam) {
			e := badRequest("%s: %v", name, err)
			e.Issues[0].Code = "not-supported"
			return q, false, e
		}
		if err != nil {
			return q, false, err
		}
		q.Where = append(q.Where, clause)
	}
	return q, len(q.Where) > 0, nil
}

// hasCriteria reports whether a query string holds anything but _format and _pretty: what
// parseConditions would take as criteria (or refuse).
func hasCriteria(rawQuery string) bool {
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if pair == "" {
			continue
		}
		rawName, _, _ := strings.Cut(pair, "=")
		if name, err := url.QueryUnescape(rawName); err != nil || !resultParams[name] {
			return true
		}
	}
	return false
}

// needsCriteria is the 405 of a conditional PUT or DELETE without criteria: without them the
// type URL supports only POST.
func needsCriteria(method string) *Error {
	e := errorf(http.StatusMethodNotAllowed, "not-supported", "%s on a resource type needs search criteria (conditional %s)",
		method, map[string]string{"PUT": "update", "DELETE": "delete"}[method])
	e.Header = http.Header{"Allow": {"POST"}}
	return e
}

// splitValues splits a parameter value at commas not escaped with a backslash
// (search.html#escaping). Values keep their escapes; unescape removes them.
func splitValues(s string) []string {
	var out []string
	for {
		before, after, found := cutUnescaped(s, ',')
		out = append(out, before)
		if !found {
			return out
		}
		s = after
	}
}

// cutUnescaped is strings.Cut at the first sep not preceded by an escaping backslash.
func cutUnescaped(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// unescape removes the backslash escapes of \, \| \$ and \\.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
