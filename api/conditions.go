package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-health/portico/store"
)

// Conditional interactions (http.html#ccreate, #cond-update, #cdelete) select resources with
// search parameters. Until the search API lands only _id and identifier are understood; any
// other search parameter is HTTP 400 rather than silently ignored, which would widen the match.

// resultParams are control parameters that may appear in a conditional URL without being
// search criteria.
var resultParams = map[string]bool{"_format": true, "_pretty": true}

// parseConditions turns the criteria of a conditional request (the query string of the URL,
// or the If-None-Exist header) into a store.Query. ok is false when no criteria were given.
func parseConditions(typ, rawQuery string) (q store.Query, ok bool, err error) {
	rawQuery = strings.TrimPrefix(rawQuery, "?")
	q = store.Query{Types: []string{typ}, Count: 2} // two results tell 0, 1 and "more than one" apart
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
		var clause store.Clause
		switch name {
		case "_id":
			clause, err = idClause(value)
		case "identifier":
			clause, err = tokenClause(name, value)
		default:
			e := badRequest("search parameter %q is not supported yet in conditional interactions (only _id and identifier are)", name)
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

// needsCriteria is the 405 of a conditional PUT or DELETE without criteria: without them the
// type URL supports only POST.
func needsCriteria(method string) *Error {
	e := errorf(http.StatusMethodNotAllowed, "not-supported", "%s on a resource type needs search criteria (conditional %s)",
		method, map[string]string{"PUT": "update", "DELETE": "delete"}[method])
	e.Header = http.Header{"Allow": {"POST"}}
	return e
}

// idClause parses _id=a,b,c: the resource id, compared like a token code.
func idClause(value string) (store.Clause, error) {
	c := store.Clause{Param: "_id", Kind: store.KindToken}
	for _, id := range splitValues(value) {
		if !validID(id) {
			return c, badRequest("_id: %q is not a valid resource id", id)
		}
		c.Values = append(c.Values, store.Value{Code: id})
	}
	return c, nil
}

// tokenClause parses a token parameter (search.html#token): comma-separated values, each
// "code", "system|code", "|code" (no system) or "system|" (any code of the system).
func tokenClause(name, value string) (store.Clause, error) {
	c := store.Clause{Param: name, Kind: store.KindToken}
	for _, v := range splitValues(value) {
		sys, code, hasBar := cutUnescaped(v, '|')
		var tv store.Value
		switch {
		case !hasBar:
			tv = store.Value{Code: unescape(v), AnySystem: true}
		case code == "":
			tv = store.Value{System: unescape(sys), AnyCode: true}
		default:
			tv = store.Value{System: unescape(sys), Code: unescape(code)}
		}
		if (tv.Code == "" && !tv.AnyCode) || (tv.AnyCode && tv.System == "") {
			return c, badRequest("%s: %q is not a token (code, system|code, |code or system|)", name, v)
		}
		c.Values = append(c.Values, tv)
	}
	return c, nil
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
