package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// Search parameters (search.html) are parsed here into a store.Query with the fhir package's
// registry; the result parameters (_sort, _count, _include, _summary, ...) into a searchRequest.

// searchRequest is a parsed search: the store query and what shapes the result.
type searchRequest struct {
	query       store.Query
	system      bool // a system search (GET [base]?_type=...)
	countOnly   bool // _summary=count or _count=0: the total only
	subsetSpec       // _summary (but count) and _elements
	includes    []includeSpec
	revincludes []includeSpec
	warnings    []fhir.Issue // ignored parameters, reported in an outcome entry
	canonical   url.Values   // the parameters as understood, for the self and next links
	cursor      string       // the _cursor received (sealed), for the self link
	caller      string       // callerScope of the request: next cursors are sealed for it
}

// includeSpec is one _include or _revinclude: Source:Param[:Target].
type includeSpec struct {
	source, param, target string // param "*": every reference parameter of source
	iterate               bool
}

// errUnknownParam marks a parameter the server does not know or cannot evaluate: ignored with
// a warning by default, HTTP 400 under Prefer: handling=strict.
var errUnknownParam = errors.New("unknown search parameter")

// Limits of one search (docs/search.md, "Limits"): a query past them is HTTP 400
// (too-costly) before anything runs, so that no request can make the store do unbounded work.
const (
	maxChainDepth    = 4    // chains and nested _has
	maxCriteria      = 64   // search criteria, counting those inside chains and _has
	maxValues        = 100  // values of one parameter (the comma's OR)
	maxValuesInQuery = 400  // values of all criteria together
	maxValueBytes    = 1024 // one value
	maxIncludeSpecs  = 16   // _include and _revinclude, :iterate or not
	maxSortKeys      = 8
)

// searchParser parses the parameters of one request.
type searchParser struct {
	a      *API
	strict bool
	depth  int

	criteria, values int // counted against the limits
}

// tooCostly is the error of a query past a limit.
func tooCostly(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "too-costly", format, args...)
}

// count checks one more criterion and its values against the limits.
func (p *searchParser) count(name string, values []string) error {
	p.criteria++
	p.values += len(values)
	switch {
	case p.criteria > maxCriteria:
		return tooCostly("a search may have at most %d criteria (chains and _has included)", maxCriteria)
	case len(values) > maxValues:
		return tooCostly("%s: at most %d values may be joined by commas", name, maxValues)
	case p.values > maxValuesInQuery:
		return tooCostly("a search may have at most %d values in all", maxValuesInQuery)
	}
	for _, v := range values {
		if len(v) > maxValueBytes {
			return tooCostly("%s: a value may have at most %d bytes", name, maxValueBytes)
		}
	}
	return nil
}

// resultParamNames are the parameters that shape the result rather than select resources.
var resultParamNames = map[string]bool{
	"_format": true, "_pretty": true, "_cursor": true, "_count": true, "_sort": true,
	"_summary": true, "_elements": true, "_total": true, "_include": true, "_revinclude": true,
	"_include:iterate": true, "_revinclude:iterate": true, "_include:recurse": true,
	"_revinclude:recurse": true, "_contained": true, "_containedType": true, "_type": true,
}

// preferStrict reports whether the Prefer header asks for handling=strict.
func preferStrict(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for pref := range strings.SplitSeq(v, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if strings.EqualFold(strings.TrimSpace(name), "handling") {
				return strings.Trim(strings.TrimSpace(value), `"`) == "strict"
			}
		}
	}
	return false
}

// parseSearch parses the parameters of a search of types (one for a type search; those of
// _type, or none, for a system search).
func (a *API) parseSearch(types []string, system bool, params url.Values, strict bool) (*searchRequest, error) {
	p := &searchParser{a: a, strict: strict}
	r := &searchRequest{system: system, canonical: url.Values{}}
	if system {
		if v := params.Get("_type"); v != "" {
			for _, t := range strings.Split(v, ",") {
				t = strings.TrimSpace(t)
				if _, ok := a.types[t]; !ok {
					return nil, badRequest("_type: %q is not a resource type served here", t)
				}
				if !slices.Contains(types, t) {
					types = append(types, t)
				}
			}
			r.canonical.Set("_type", strings.Join(types, ","))
		} else {
			// Without _type, a system search covers the served FHIR types only: the store also
			// holds internal records (SMART apps, users, grants) that must never be listed.
			types = a.typeList
		}
	}
	r.query = store.Query{Types: types}

	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		values := params[name]
		if resultParamNames[name] {
			if err := p.resultParam(r, name, values); err != nil {
				return nil, err
			}
			continue
		}
		for _, value := range values {
			if value == "" {
				continue // a parameter without a value is ignored
			}
			c, err := p.clause(types, name, value)
			if errors.Is(err, errUnknownParam) {
				if strict {
					e := badRequest("%s: %v", name, err)
					e.Issues[0].Code = "not-supported"
					return nil, e
				}
				r.warnings = append(r.warnings, fhir.Issue{Severity: "warning", Code: "not-supported",
					Diagnostics: fmt.Sprintf("search parameter %q was ignored: %v", name, err)})
				continue
			}
			if err != nil {
				return nil, err
			}
			r.query.Where = append(r.query.Where, c)
			r.canonical.Add(name, value)
		}
	}
	if r.query.Count == 0 && !r.countOnly {
		r.query.Count = a.defaultCount
	}
	if r.countOnly {
		r.query.Count, r.query.Total = 1, true
	}
	r.query.MaxBytes = a.pageBytes() // a page of huge resources ends early, with its next link
	if r.countOnly {
		r.canonical.Set("_summary", "count")
	} else {
		r.canonical.Set("_count", strconv.Itoa(r.query.Count))
	}
	return r, nil
}

// resultParam parses one of resultParamNames.
func (p *searchParser) resultParam(r *searchRequest, name string, values []string) error {
	v := values[len(values)-1]
	keep := true
	switch name {
	case "_format", "_pretty":
	case "_cursor", "_type":
		keep = false // _cursor goes only on next links; _type was read by parseSearch
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("_count: %q is not a non-negative integer", v)
		}
		keep = false
		if n == 0 {
			r.countOnly = true
		} else {
			r.query.Count = min(n, p.a.maxCount)
		}
	case "_total":
		switch v {
		case "none":
		case "estimate", "accurate":
			r.query.Total = true
		default:
			return badRequest("_total: %q is not none, estimate or accurate", v)
		}
	case "_summary":
		count, err := r.parseSummary(v)
		if err != nil {
			return err
		}
		if count {
			r.countOnly, keep = true, false
		}
	case "_elements":
		r.parseElements(v)
	case "_sort":
		if keys := strings.Count(v, ",") + 1; keys > maxSortKeys {
			return tooCostly("_sort: at most %d keys", maxSortKeys)
		}
		for _, key := range strings.Split(v, ",") {
			key = strings.TrimSpace(key)
			desc := strings.HasPrefix(key, "-")
			key = strings.TrimPrefix(key, "-")
			if err := p.sortable(r.query.Types, key); err != nil {
				return err
			}
			r.query.Sort = append(r.query.Sort, store.Sort{Param: key, Desc: desc})
		}
	case "_include", "_revinclude", "_include:iterate", "_revinclude:iterate", "_include:recurse", "_revinclude:recurse":
		rev := strings.HasPrefix(name, "_revinclude")
		iterate := strings.Contains(name, ":")
		if len(r.includes)+len(r.revincludes)+len(values) > maxIncludeSpecs {
			return tooCostly("at most %d _include and _revinclude parameters", maxIncludeSpecs)
		}
		for _, raw := range values {
			spec, err := p.includeSpec(r.query.Types, raw, rev)
			if err != nil {
				return badRequest("%s: %v", name, err)
			}
			spec.iterate = iterate
			if rev {
				r.revincludes = append(r.revincludes, spec)
			} else {
				r.includes = append(r.includes, spec)
			}
		}
		for _, raw := range values {
			r.canonical.Add(name, raw)
		}
		return nil
	case "_contained", "_containedType":
		keep = false
		if v != "false" && v != "" && !(name == "_containedType" && v == "container") {
			if p.strict {
				return errorf(http.StatusBadRequest, "not-supported", "%s is not supported: contained resources are not searched", name)
			}
			r.warnings = append(r.warnings, fhir.Issue{Severity: "warning", Code: "not-supported",
				Diagnostics: fmt.Sprintf("%s=%s was ignored: contained resources are not searched", name, v)})
		}
	}
	if keep && v != "" {
		r.canonical.Set(name, v)
	}
	return nil
}

// sortable checks a _sort key: _id, _lastUpdated, or a parameter every searched type has.
func (p *searchParser) sortable(types []string, key string) error {
	if key == "" {
		return badRequest("_sort: empty sort key")
	}
	if key == "_id" || key == "_lastUpdated" {
		return nil
	}
	sp, err := p.lookup(types, key)
	if err != nil || sp.Type == "composite" {
		return badRequest("_sort: %q is not a search parameter that results can be sorted by", key)
	}
	return nil
}

// includeSpec parses Source:param[:Target], Source:* or *.
func (p *searchParser) includeSpec(types []string, raw string, rev bool) (includeSpec, error) {
	if raw == "*" && !rev {
		if len(types) != 1 {
			return includeSpec{}, errors.New("* needs a type search")
		}
		return includeSpec{source: types[0], param: "*"}, nil
	}
	parts := strings.Split(raw, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return includeSpec{}, fmt.Errorf("%q is not Type:parameter or Type:parameter:targetType", raw)
	}
	spec := includeSpec{source: parts[0], param: parts[1]}
	if _, ok := p.a.types[spec.source]; !ok {
		return spec, fmt.Errorf("%q is not a resource type served here", spec.source)
	}
	if len(parts) == 3 {
		spec.target = parts[2]
		if _, ok := p.a.types[spec.target]; !ok {
			return spec, fmt.Errorf("%q is not a resource type served here", spec.target)
		}
	}
	if spec.param == "*" {
		return spec, nil
	}
	sp := fhir.LookupSearchParam(spec.source, spec.param)
	if sp == nil || sp.Type != "reference" {
		return spec, fmt.Errorf("%s has no reference parameter %q", spec.source, spec.param)
	}
	if spec.target != "" && !targetAllowed(sp.Targets, spec.target) {
		return spec, fmt.Errorf("%s:%s cannot refer to %s", spec.source, spec.param, spec.target)
	}
	return spec, nil
}

func targetAllowed(targets []string, typ string) bool {
	return len(targets) == 0 || slices.Contains(targets, typ) || slices.Contains(targets, "Resource")
}

// lookup finds a parameter on every type of types (on Resource when there are none). A
// parameter without an expression (_text, _content, _query) or of type special cannot be
// evaluated and counts as unknown.
func (p *searchParser) lookup(types []string, code string) (*fhir.SearchParam, error) {
	if len(types) == 0 {
		types = []string{"Resource"}
	}
	var found *fhir.SearchParam
	for _, t := range types {
		sp := fhir.LookupSearchParam(t, code)
		if sp == nil {
			return nil, fmt.Errorf("%w: %q is not a parameter of %s", errUnknownParam, code, t)
		}
		if k := fhir.ParamKind(sp.Type); k == 0 || k == store.KindSpecial || (sp.Expression == "" && code != "_id") {
			return nil, fmt.Errorf("%w: %q is not supported by this server", errUnknownParam, code)
		}
		if found != nil && found.Type != sp.Type {
			return nil, badRequest("%s: the parameter has different types on the searched resource types", code)
		}
		if found == nil {
			found = sp
		}
	}
	return found, nil
}

// clause parses one occurrence of a parameter: name[:modifier][.chain]=value.
func (p *searchParser) clause(types []string, name, value string) (store.Clause, error) {
	if err := p.count(name, splitValues(value)); err != nil {
		return store.Clause{}, err
	}
	if strings.HasPrefix(name, "_has:") {
		return p.hasClause(types, name, value)
	}
	head, chain, hasChain := strings.Cut(name, ".")
	code, mod, hasMod := strings.Cut(head, ":")
	sp, err := p.lookup(types, code)
	if err != nil {
		return store.Clause{}, err
	}
	kind := fhir.ParamKind(sp.Type)
	c := store.Clause{Param: code, Kind: kind}

	if hasChain {
		return p.chainClause(c, sp, name, mod, chain, value)
	}
	if hasMod {
		if mod == "missing" {
			if value != "true" && value != "false" {
				return c, badRequest("%s: :missing takes true or false, not %q", name, value)
			}
			c.Modifier, c.Missing = store.ModMissing, value == "true"
			return c, nil
		}
		if c.Modifier, err = modifierFor(kind, mod); err != nil {
			return c, badRequest("%s: %v", name, err)
		}
	}
	if code == "_id" {
		for _, id := range splitValues(value) {
			id = unescape(id)
			if !validID(id) {
				return c, badRequest("_id: %q is not a valid resource id", id)
			}
			c.Values = append(c.Values, store.Value{Code: id})
		}
		return c, nil
	}
	// A reference modifier naming a type (subject:Patient=123) types bare ids.
	refType := ""
	if kind == store.KindReference && hasMod && c.Modifier == store.ModNone {
		refType = mod
		if !targetAllowed(sp.Targets, refType) {
			return c, badRequest("%s: %s cannot refer to %s", name, code, refType)
		}
	}
	for _, raw := range splitValues(value) {
		v, err := p.value(sp, kind, c.Modifier, raw)
		if err != nil {
			return c, badRequest("%s: %v", name, err)
		}
		if refType != "" && v.RefURL == "" {
			if v.RefType != "" && v.RefType != refType {
				return c, badRequest("%s: %q is not a reference to %s", name, raw, refType)
			}
			v.RefType = refType
		}
		c.Values = append(c.Values, v)
	}
	return c, nil
}

// value parses one value, turning references to this server's own base into Type/id and
// splitting composite values at '$'.
func (p *searchParser) value(sp *fhir.SearchParam, kind store.ParamKind, mod store.Modifier, raw string) (store.Value, error) {
	switch kind {
	case store.KindReference:
		if mod == store.ModNone {
			if rest, ok := strings.CutPrefix(raw, p.a.base+"/"); ok {
				raw = rest
			}
		}
	case store.KindDate:
		// An unencoded '+' of a time zone arrives as a space: 2024-05-01T10:00:00 02:00.
		if n := len(raw); n > 6 && raw[n-6] == ' ' {
			raw = raw[:n-6] + "+" + raw[n-5:]
		}
	case store.KindComposite:
		return fhir.ParseCompositeValue(sp, raw)
	}
	return fhir.ParseSearchValue(kind, mod, raw)
}

// modifierFor maps a modifier to the store's, for a parameter kind.
func modifierFor(kind store.ParamKind, mod string) (store.Modifier, error) {
	switch kind {
	case store.KindString:
		switch mod {
		case "exact":
			return store.ModExact, nil
		case "contains":
			return store.ModContains, nil
		}
	case store.KindToken:
		switch mod {
		case "text":
			return store.ModText, nil
		case "not":
			return store.ModNot, nil
		case "of-type":
			return store.ModOfType, nil
		case "in", "not-in", "below", "above":
			return 0, fmt.Errorf("the modifier :%s needs terminology services, which this server does not have", mod)
		}
	case store.KindURI:
		switch mod {
		case "below":
			return store.ModBelow, nil
		case "above":
			return store.ModAbove, nil
		}
	case store.KindReference:
		switch mod {
		case "identifier":
			return store.ModIdentifier, nil
		}
		if fhir.IsResourceType(mod) {
			return store.ModNone, nil // a type modifier; the caller applies it
		}
	}
	return 0, fmt.Errorf("unknown modifier :%s for a parameter of this type", mod)
}

// chainClause parses a chained parameter: ref[:Type].chain=value, chain possibly chained again.
func (p *searchParser) chainClause(c store.Clause, sp *fhir.SearchParam, name, mod, chain, value string) (store.Clause, error) {
	if c.Kind != store.KindReference {
		return c, badRequest("%s: only reference parameters can be chained", name)
	}
	if p.depth >= maxChainDepth {
		return c, tooCostly("%s: chains are limited to %d levels", name, maxChainDepth)
	}
	if chain == "" {
		return c, badRequest("%s: empty chain", name)
	}
	var candidates []string
	if mod != "" {
		if !fhir.IsResourceType(mod) || !targetAllowed(sp.Targets, mod) {
			return c, badRequest("%s: %q is not a type %s can refer to", name, mod, c.Param)
		}
		candidates = []string{mod}
	} else {
		candidates = sp.Targets
		if len(candidates) == 0 || slices.Contains(candidates, "Resource") {
			return c, badRequest("%s: %s can refer to any type; name one, as in %s:Patient.%s", name, c.Param, c.Param, chain)
		}
	}
	chainCode, _, _ := strings.Cut(chain, ".")
	chainCode, _, _ = strings.Cut(chainCode, ":")
	var targets []string
	for _, t := range candidates {
		if _, ok := p.a.types[t]; ok && fhir.LookupSearchParam(t, chainCode) != nil {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return c, badRequest("%s: no type %s refers to has a parameter %q", name, c.Param, chainCode)
	}
	p.depth++
	inner, err := p.clause(targets, chain, value)
	p.depth--
	if errors.Is(err, errUnknownParam) {
		return c, badRequest("%s: %v", name, err) // a broken chain is malformed, not ignorable
	}
	if err != nil {
		return c, err
	}
	c.Chain = &store.Query{Types: targets, Where: []store.Clause{inner}}
	return c, nil
}

// hasClause parses _has:Type:param:rest=value (search.html#has); rest may be another _has.
func (p *searchParser) hasClause(types []string, name, value string) (store.Clause, error) {
	c := store.Clause{Param: "_has", Kind: store.KindSpecial}
	parts := strings.SplitN(strings.TrimPrefix(name, "_has:"), ":", 3)
	if len(parts) != 3 || parts[2] == "" {
		return c, badRequest("%s: _has is _has:Type:reference:parameter", name)
	}
	typ, ref, rest := parts[0], parts[1], parts[2]
	if _, ok := p.a.types[typ]; !ok {
		return c, badRequest("%s: %q is not a resource type served here", name, typ)
	}
	sp := fhir.LookupSearchParam(typ, ref)
	if sp == nil || sp.Type != "reference" {
		return c, badRequest("%s: %s has no reference parameter %q", name, typ, ref)
	}
	for _, t := range types {
		if !targetAllowed(sp.Targets, t) {
			return c, badRequest("%s: %s.%s cannot refer to %s", name, typ, ref, t)
		}
	}
	if p.depth >= maxChainDepth {
		return c, tooCostly("%s: _has is limited to %d levels", name, maxChainDepth)
	}
	p.depth++
	inner, err := p.clause([]string{typ}, rest, value)
	p.depth--
	if errors.Is(err, errUnknownParam) {
		return c, badRequest("%s: %v", name, err)
	}
	if err != nil {
		return c, err
	}
	c.Has = &store.Has{Type: typ, Param: ref, Where: []store.Clause{inner}}
	return c, nil
}
