package fhir

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/portico-health/portico/store"
)

// OfTypeSuffix is appended to an identifier-typed token parameter's name for the entries that
// serve :of-type ("identifier:of-type"): System and Code are the Identifier.type coding, Text
// the identifier value as written. A clause with ModOfType matches those entries.
const OfTypeSuffix = ":of-type"

// skipParams are the published parameters ExtractIndex does not extract, with the reason.
// TestSearchParamRegistry requires every other parameter to compile and to select only
// types the extractor understands. Parameters without an expression (_content, _query, _text)
// are skipped as well (see skipReason).
var skipParams = map[string]string{
	"Location.near":                  "special: geographic distance on Location.position needs a spatial search, not an index entry",
	"DocumentReference.relationship": "R4 publishes its components with the definitions swapped (relatesTo.code as the reference part)",
	"Bundle.composition":             "reference to the Composition embedded in the Bundle (Bundle.entry[0].resource), not a Reference",
	"Bundle.message":                 "reference to the MessageHeader embedded in the Bundle (Bundle.entry[0].resource), not a Reference",
	"Resource._content":              "no expression: full-text search over the whole resource is not indexed",
	"Resource._query":                "no expression: named queries are not supported",
	"DomainResource._text":           "no expression: full-text search over the narrative is not indexed",
}

// skipReason says why sp is not extracted, or "".
func skipReason(sp *SearchParam) string {
	if r, ok := skipParams[sp.Base+"."+sp.Code]; ok {
		return r
	}
	if sp.Expression == "" {
		return "no expression"
	}
	if sp.Type == "special" {
		return "special parameter: needs its own search logic"
	}
	return ""
}

// SkippedSearchParams lists the parameters of all R4 types that are not extracted, as
// "Base.code: reason", sorted.
func SkippedSearchParams() []string {
	var out []string
	for i := range searchParamTable {
		sp := &searchParamTable[i]
		if r := skipReason(sp); r != "" {
			out = append(out, sp.Base+"."+sp.Code+": "+r)
		}
	}
	sort.Strings(out)
	return out
}

// extractable are the FHIR types each kind of parameter can index. SampledData is accepted for
// quantities and yields no entry (R4 search has no rule for it).
var extractable = map[store.ParamKind][]string{
	store.KindToken: {"boolean", "code", "string", "id", "uri", "url", "canonical", "oid", "uuid",
		"markdown", "integer", "positiveInt", "unsignedInt", "Coding", "CodeableConcept",
		"Identifier", "ContactPoint"},
	store.KindString: {"string", "markdown", "code", "id", "uri", "url", "canonical", "oid",
		"uuid", "HumanName", "Address"},
	store.KindReference: {"Reference", "canonical", "uri", "url"},
	store.KindDate:      {"date", "dateTime", "instant", "Period", "Timing", "string"},
	store.KindNumber:    {"integer", "decimal", "positiveInt", "unsignedInt", "Range"},
	store.KindQuantity: {"Quantity", "Age", "Duration", "Distance", "Count", "Money",
		"SimpleQuantity", "MoneyQuantity", "Range"},
	store.KindURI: {"uri", "url", "canonical", "oid", "uuid"},
}

// ignoredTypes are types some expressions select that have no meaning for the kind of their
// parameter: they are accepted by the registry check and yield no entry.
var ignoredTypes = map[store.ParamKind]map[string]string{
	store.KindDate: {
		"Age":   "an age (Procedure.performedAge) is not a date without the birth date",
		"Range": "an age range (Procedure.performedRange) is not a date without the birth date",
	},
	store.KindReference: {"Attachment": "Consent.source[x] as Attachment is not a reference"},
	store.KindQuantity:  {"SampledData": "R4 defines no quantity semantics for SampledData"},
	store.KindToken: {
		"Quantity":  "Group.characteristic.value[x] as Quantity is not a token",
		"Range":     "Group.characteristic.value[x] as Range is not a token",
		"Reference": "Group.characteristic.value[x] as Reference is not a token",
	},
}

// IgnoredTypes lists the (kind, type) pairs that are selected but not indexed, as
// "kind type: reason", sorted.
func IgnoredTypes() []string {
	var out []string
	for k, m := range ignoredTypes {
		for t, why := range m {
			out = append(out, paramKindName(k)+" "+t+": "+why)
		}
	}
	sort.Strings(out)
	return out
}

// compiledParam is one search parameter compiled for one resource type.
type compiledParam struct {
	sp    *SearchParam
	kind  store.ParamKind
	expr  *PathExpr
	comps []compiledComp
	skip  string
	err   error
}

type compiledComp struct {
	code string
	kind store.ParamKind
	expr *PathExpr
}

type typeIndex struct {
	once   sync.Once
	params []compiledParam
}

var typeIndexes sync.Map // resource type → *typeIndex

// compiledParams returns the parameters of a resource type, compiled once.
func compiledParams(resourceType string) []compiledParam {
	v, ok := typeIndexes.Load(resourceType)
	if !ok {
		v, _ = typeIndexes.LoadOrStore(resourceType, &typeIndex{})
	}
	ti := v.(*typeIndex)
	ti.once.Do(func() {
		for _, sp := range AllSearchParams(resourceType) {
			ti.params = append(ti.params, compileParam(resourceType, sp))
		}
	})
	return ti.params
}

// compileParam compiles sp for a resource type and checks that every type its expression can
// select is one the extractor handles for its kind.
func compileParam(resourceType string, sp *SearchParam) compiledParam {
	cp := compiledParam{sp: sp, kind: ParamKind(sp.Type)}
	if cp.skip = skipReason(sp); cp.skip != "" {
		return cp
	}
	expr, err := CompilePath(resourceType, sp.Expression)
	if err != nil {
		cp.err = err
		return cp
	}
	cp.expr = expr
	if cp.kind == store.KindComposite {
		if len(sp.Components) == 0 {
			cp.err = fmt.Errorf("composite %s has no components", sp.Code)
			return cp
		}
		for _, t := range expr.Types {
			if t == "Resource" {
				cp.err = fmt.Errorf("composite %s: base of unknown type", sp.Code)
				return cp
			}
		}
		for _, c := range sp.Components {
			csp := LookupSearchParamURL(c.Definition)
			if csp == nil {
				cp.err = fmt.Errorf("composite %s: unknown component %s", sp.Code, c.Definition)
				return cp
			}
			cc := compiledComp{code: csp.Code, kind: ParamKind(csp.Type)}
			// Components are relative to each element the composite selects.
			ce, err := compilePathIn(expr.out, expr.res, c.Expression)
			if err != nil {
				cp.err = fmt.Errorf("composite %s: %w", sp.Code, err)
				return cp
			}
			if err := checkExtractable(cc.kind, ce.Types); err != nil {
				cp.err = fmt.Errorf("composite %s component %s: %w", sp.Code, csp.Code, err)
				return cp
			}
			cc.expr = ce
			cp.comps = append(cp.comps, cc)
		}
		return cp
	}
	if err := checkExtractable(cp.kind, expr.Types); err != nil {
		cp.err = fmt.Errorf("%s.%s: %w", resourceType, sp.Code, err)
	}
	return cp
}

func checkExtractable(kind store.ParamKind, types []string) error {
	ok := extractable[kind]
	for _, t := range types {
		if _, ign := ignoredTypes[kind][t]; !containsStr(ok, t) && !ign {
			return fmt.Errorf("cannot index a %s as a %s parameter", t, paramKindName(kind))
		}
	}
	return nil
}

func paramKindName(k store.ParamKind) string {
	switch k {
	case store.KindToken:
		return "token"
	case store.KindString:
		return "string"
	case store.KindReference:
		return "reference"
	case store.KindDate:
		return "date"
	case store.KindNumber:
		return "number"
	case store.KindQuantity:
		return "quantity"
	case store.KindURI:
		return "uri"
	case store.KindComposite:
		return "composite"
	case store.KindSpecial:
		return "special"
	}
	return "unknown"
}

// ComponentKind is the kind of one component of a composite parameter; 0 if unknown.
func ComponentKind(c SearchParamComponent) store.ParamKind {
	if sp := LookupSearchParamURL(c.Definition); sp != nil {
		return ParamKind(sp.Type)
	}
	return 0
}

// CheckSearchParams compiles every search parameter of a resource type and returns the
// errors: parameters that are neither extracted nor skipped with a reason.
func CheckSearchParams(resourceType string) []error {
	var errs []error
	for _, cp := range compiledParams(resourceType) {
		if cp.err != nil {
			errs = append(errs, cp.err)
		}
	}
	return errs
}

// ExtractIndex extracts the index entries of every search parameter of the resource's type:
// R4's (those of Resource, DomainResource and the type) and Portico's own. See
// docs/search-index.md for the rules per kind. It fails only on values the validator lets
// through but that cannot be indexed, and on parameters that do not compile (a bug the
// registry test catches).
func ExtractIndex(r *Resource) ([]store.IndexEntry, error) {
	return ExtractIndexBase(r, "")
}

// ExtractIndexBase is ExtractIndex for a server whose base URL is baseURL (e.g.
// "https://example.org/fhir"): absolute references under it are indexed as local ones.
func ExtractIndexBase(r *Resource, baseURL string) ([]store.IndexEntry, error) {
	rt := r.Type()
	if LookupType(rt) == nil {
		return nil, fmt.Errorf("unknown resource type %q", rt)
	}
	params := compiledParams(rt)
	c := evalPool.Get().(*evalCtx)
	defer c.release()
	c.root = &r.Root
	x := extractor{root: &r.Root, base: strings.TrimSuffix(baseURL, "/"), ctx: c, out: c.entries[:0]}
	in := []PathNode{NodeOf(&r.Root)}
	for i := range params {
		cp := &params[i]
		if cp.skip != "" {
			continue
		}
		if cp.err != nil {
			return nil, cp.err
		}
		c.buf = c.buf[:0]
		nodes := cp.expr.evalScratch(c, in)
		if cp.kind == store.KindComposite {
			for _, n := range nodes {
				if err := x.composite(cp, n); err != nil {
					return nil, err
				}
			}
			continue
		}
		first := len(x.out)
		for _, n := range nodes {
			if err := x.node(cp.sp.Code, cp.kind, n); err != nil {
				return nil, fmt.Errorf("%s: %w", cp.sp.Code, err)
			}
		}
		if cp.sp.Base == "Communication" && cp.sp.Code == "priority" {
			for j := first; j < len(x.out); j++ {
				e := &x.out[j]
				if rank := communicationPriorityRank[e.Code]; rank != "" {
					e.SortKey = rank + e.Code
				} else {
					e.SortKey = "9" + e.Code
				}
			}
		}
	}
	out := slices.Clone(x.out)
	c.entries = x.out[:0]
	return out, nil
}

type extractor struct {
	ctx  *evalCtx
	root *Value
	base string
	out  []store.IndexEntry
}

func (x *extractor) composite(cp *compiledParam, base PathNode) error {
	// Select every component's values first: most bases lack one of them.
	var nodesBuf [4][]PathNode
	nodes := nodesBuf[:0]
	for _, c := range cp.comps {
		ns := c.expr.evalScratch(x.ctx, x.ctx.one(base))
		if len(ns) == 0 {
			return nil
		}
		nodes = append(nodes, ns)
	}
	parts := make([][]store.IndexEntry, len(cp.comps))
	for i, c := range cp.comps {
		sub := extractor{root: x.root, base: x.base, ctx: x.ctx}
		for _, n := range nodes[i] {
			if err := sub.node(c.code, c.kind, n); err != nil {
				return fmt.Errorf("%s: %w", cp.sp.Code, err)
			}
		}
		for _, e := range sub.out {
			if e.Param != c.code || (c.kind == store.KindToken && e.System == "" && e.Code == "") {
				continue // :of-type and text-only entries do not take part in composites
			}
			parts[i] = append(parts[i], e)
		}
		if len(parts[i]) == 0 {
			return nil
		}
	}
	// One entry per combination of the components' entries.
	idx := make([]int, len(parts))
	for {
		e := store.IndexEntry{Param: cp.sp.Code, Kind: store.KindComposite, Components: make([]store.IndexEntry, len(parts))}
		for i, p := range parts {
			e.Components[i] = p[idx[i]]
		}
		x.out = append(x.out, e)
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(parts[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return nil
		}
	}
}

func str(v *Value, key string) string {
	if m := v.Get(key); m != nil && (m.Kind == String || m.Kind == Number || m.Kind == Bool) {
		return m.Text
	}
	return ""
}

// each calls f for the values of v's member key (every item of an array).
func each(v *Value, key string, f func(*Value)) {
	m := v.Get(key)
	if m == nil {
		return
	}
	if m.Kind == Array {
		for i := range m.Arr {
			f(&m.Arr[i])
		}
		return
	}
	f(m)
}

func (x *extractor) add(e store.IndexEntry) { x.out = append(x.out, e) }

// node adds the entries of one selected value.
func (x *extractor) node(param string, kind store.ParamKind, n PathNode) error {
	v := n.Value
	if v == nil {
		return nil
	}
	if _, ign := ignoredTypes[kind][n.Type]; ign {
		return nil
	}
	switch kind {
	case store.KindToken:
		return x.token(param, n)
	case store.KindString:
		if v.Kind == String {
			x.str(param, v.Text)
			return nil
		}
		if v.Kind != Object {
			return nil
		}
		switch n.Type {
		case "HumanName":
			x.str(param, str(v, "family"))
			for _, k := range []string{"given", "prefix", "suffix"} {
				each(v, k, func(s *Value) { x.str(param, s.Text) })
			}
			x.str(param, str(v, "text"))
		case "Address":
			each(v, "line", func(s *Value) { x.str(param, s.Text) })
			for _, k := range []string{"city", "district", "state", "postalCode", "country", "text"} {
				x.str(param, str(v, k))
			}
		default:
			return fmt.Errorf("cannot index a %s as a string", n.Type)
		}
		return nil
	case store.KindReference:
		return x.reference(param, n)
	case store.KindDate:
		return x.date(param, n)
	case store.KindNumber:
		if n.Type == "Range" {
			if lo, hi, _, ok := rangeOf(v); ok {
				x.add(store.IndexEntry{Param: param, Kind: kind, Low: lo, High: hi, SortKey: floatKey(lo)})
			}
			return nil
		}
		if v.Kind != Number {
			return nil
		}
		_, lo, hi, err := NumberRange(v.Text)
		if err != nil {
			return err
		}
		x.add(store.IndexEntry{Param: param, Kind: kind, Low: lo, High: hi, SortKey: floatKey(lo)})
		return nil
	case store.KindQuantity:
		return x.quantity(param, n)
	case store.KindURI:
		if v.Kind == String {
			x.add(store.IndexEntry{Param: param, Kind: kind, Text: v.Text, SortKey: v.Text})
		}
		return nil
	}
	return fmt.Errorf("cannot index parameters of kind %s", paramKindName(kind))
}

func (x *extractor) str(param, s string) {
	if s == "" {
		return
	}
	t := NormalizeString(s)
	x.add(store.IndexEntry{Param: param, Kind: store.KindString, Code: s, Text: t, SortKey: t})
}

func (x *extractor) token(param string, n PathNode) error {
	v := n.Value
	tok := func(system, code, text string) {
		x.add(store.IndexEntry{Param: param, Kind: store.KindToken, System: system, Code: code,
			Text: NormalizeString(text), SortKey: code})
	}
	switch v.Kind {
	case String, Bool, Number:
		tok("", v.Text, "")
		return nil
	case Object:
	default:
		return nil
	}
	coding := func(c *Value) {
		sys, code := str(c, "system"), str(c, "code")
		if sys != "" || code != "" {
			tok(sys, code, str(c, "display"))
		}
	}
	switch n.Type {
	case "Coding":
		coding(v)
	case "CodeableConcept":
		first := len(x.out)
		each(v, "coding", coding)
		if t := str(v, "text"); t != "" {
			tok("", "", t)
			// The text-only entry sorts with the concept's first code, or by its text.
			e := &x.out[len(x.out)-1]
			e.SortKey = e.Text
			if first < len(x.out)-1 {
				e.SortKey = x.out[first].Code
			}
		}
	case "Identifier":
		val := str(v, "value")
		var typ *Value
		if t := v.Get("type"); t != nil && t.Kind == Object {
			typ = t
		}
		if val != "" {
			text := ""
			if typ != nil {
				text = str(typ, "text")
			}
			tok(str(v, "system"), val, text)
		}
		if typ != nil && val != "" {
			each(typ, "coding", func(c *Value) {
				sys, code := str(c, "system"), str(c, "code")
				if code != "" {
					x.add(store.IndexEntry{Param: param + OfTypeSuffix, Kind: store.KindToken,
						System: sys, Code: code, Text: val, SortKey: code})
				}
			})
		}
	case "ContactPoint":
		if val := str(v, "value"); val != "" {
			tok(str(v, "system"), val, "")
		}
	default:
		return fmt.Errorf("cannot index a %s as a token", n.Type)
	}
	return nil
}

func (x *extractor) reference(param string, n PathNode) error {
	v := n.Value
	e := store.IndexEntry{Param: param, Kind: store.KindReference}
	ref, declared := "", "" // declared: Reference.type, the type the reference says it names
	switch v.Kind {
	case String: // canonical, uri
		ref = v.Text
	case Object:
		ref, declared = str(v, "reference"), strings.TrimPrefix(str(v, "type"), "http://hl7.org/fhir/StructureDefinition/")
		if id := v.Get("identifier"); id != nil && id.Kind == Object {
			e.System, e.Code = str(id, "system"), str(id, "value")
		}
		if ref == "" {
			e.RefType = declared
		}
	default:
		return nil
	}
	if ref != "" && !strings.HasPrefix(ref, "#") { // contained references are not indexed
		if x.base != "" && strings.HasPrefix(ref, x.base+"/") {
			ref = ref[len(x.base)+1:]
		}
		typ, id, url := ParseReference(ref)
		hint := ""
		if v.Kind == Object {
			// A literal reference: read as LiteralReference reads it, so that the index, the
			// policy and the hooks agree on what it points to.
			var ok bool
			if typ, id, ok = LiteralReference(ref, x.base); ok {
				url = ""
			} else {
				typ, id = "", ""
				if url == "" || strings.ContainsRune(ref, '|') {
					url = ""
				}
				hint = ReferenceTypeHint(ref)
			}
		}
		switch {
		case url != "":
			e.RefURL = url
			e.SortKey = url
		case typ != "":
			e.RefType, e.RefID = typ, id
			e.SortKey = typ + "/" + id
		default:
			e.RefURL = ref // a relative form that is not Type/id: kept as written
			e.SortKey = ref
		}
		if e.RefType == "" && e.RefURL != "" {
			e.RefType = hint // the type it names, without an id: no search by id finds it
			if e.RefType == "" {
				e.RefType = declared // urn:uuid:..., or another server's URL without a type in it
			}
		}
	}
	// A reference that only names its type (a display, or nothing else) is indexed too: the
	// policy reads from the index whether a resource names a patient, and a Schedule whose
	// actor was {"type": "Patient", "display": "..."} was shared with every patient (blind
	// attack, round 8).
	if e.RefID == "" && e.RefURL == "" && e.Code == "" && e.RefType == "" {
		return nil
	}
	if e.SortKey == "" {
		e.SortKey = e.Code // identifier only
	}
	x.add(e)
	return nil
}

func (x *extractor) date(param string, n PathNode) error {
	v := n.Value
	lo, hi := 0.0, 0.0
	switch {
	case v.Kind == String:
		var err error
		if lo, hi, err = DateRange(v.Text); err != nil {
			if n.Type == "string" {
				return nil // free text (Procedure.performedString "in childhood"): no date
			}
			return err
		}
	case v.Kind != Object:
		return nil
	case n.Type == "Period":
		var ok bool
		if lo, hi, ok = periodRange(v); !ok {
			return nil
		}
	case n.Type == "Timing":
		lo, hi = MaxTime, MinTime
		each(v, "event", func(ev *Value) {
			if l, h, err := DateRange(ev.Text); err == nil {
				lo, hi = min(lo, l), max(hi, h)
			}
		})
		if lo > hi { // no events: the bounds of the repetition
			var ok bool
			rep := v.Get("repeat")
			if rep == nil {
				return nil
			}
			bp := rep.Get("boundsPeriod")
			if bp == nil {
				return nil
			}
			if lo, hi, ok = periodRange(bp); !ok {
				return nil
			}
		}
	default:
		return fmt.Errorf("cannot index a %s as a date", n.Type)
	}
	x.add(store.IndexEntry{Param: param, Kind: store.KindDate, Low: lo, High: hi, SortKey: floatKey(lo)})
	return nil
}

// periodRange is the range of a Period: from the start of start to the end of end, with
// MinTime/MaxTime for open ends.
func periodRange(v *Value) (lo, hi float64, ok bool) {
	s, e := str(v, "start"), str(v, "end")
	if s == "" && e == "" {
		return 0, 0, false
	}
	lo, hi = MinTime, MaxTime
	if s != "" {
		l, _, err := DateRange(s)
		if err != nil {
			return 0, 0, false
		}
		lo = l
	}
	if e != "" {
		_, h, err := DateRange(e)
		if err != nil {
			return 0, 0, false
		}
		hi = h
	}
	return lo, hi, true
}

func (x *extractor) quantity(param string, n PathNode) error {
	v := n.Value
	if v.Kind != Object {
		return nil
	}
	switch n.Type {
	case "SampledData":
		return nil
	case "Range":
		if lo, hi, unit, ok := rangeOf(v); ok {
			x.quantityEntries(param, unit, lo, hi, false)
		}
		return nil
	}
	val := v.Get("value")
	if val == nil || val.Kind != Number {
		return nil
	}
	_, lo, hi, err := NumberRange(val.Text)
	if err != nil {
		return err
	}
	x.quantityEntries(param, v, lo, hi, n.Type == "Money")
	return nil
}

// quantityEntries adds the entries of a quantity range with the unit of q: one with the
// unit's system and code (for Money the ISO 4217 system and the currency), and one with no
// system and the human unit when it differs from the code, so that "5||mg" finds both.
func (x *extractor) quantityEntries(param string, q *Value, lo, hi float64, money bool) {
	sys, code, unit := str(q, "system"), str(q, "code"), str(q, "unit")
	if money {
		sys, code, unit = "urn:iso:std:iso:4217", str(q, "currency"), ""
	}
	if code == "" {
		sys, code, unit = "", unit, ""
	}
	x.add(store.IndexEntry{Param: param, Kind: store.KindQuantity, System: sys, Code: code, Low: lo, High: hi, SortKey: floatKey(lo)})
	if unit != "" && unit != code {
		x.add(store.IndexEntry{Param: param, Kind: store.KindQuantity, Code: unit, Low: lo, High: hi, SortKey: floatKey(lo)})
	}
}

// rangeOf is the range of a Range: from the low end of low's precision to the high end of
// high's, open ends infinite; unit is low (or high when there is no low) for the unit.
func rangeOf(v *Value) (lo, hi float64, unit *Value, ok bool) {
	lo, hi = negInf, posInf
	if l := v.Get("low"); l != nil {
		if val := l.Get("value"); val != nil && val.Kind == Number {
			if _, a, _, err := NumberRange(val.Text); err == nil {
				lo, unit = a, l
			}
		}
	}
	if h := v.Get("high"); h != nil {
		if val := h.Get("value"); val != nil && val.Kind == Number {
			if _, _, b, err := NumberRange(val.Text); err == nil {
				hi = b
				if unit == nil {
					unit = h
				}
			}
		}
	}
	return lo, hi, unit, unit != nil
}

// Searchable reports whether the extractor indexes sp, so that a search on it is evaluated (the
// CapabilityStatement advertises only those).
func Searchable(sp *SearchParam) bool { return skipReason(sp) == "" }
