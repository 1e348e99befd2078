package api

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// _summary and _elements (search.html#summary, #elements) return a subset of each resource's
// elements, tagged SUBSETTED in meta.tag: on a search, and on a read or vread (http.html#read
// allows both there). Elements with a minimum cardinality above zero are always kept, as are
// resourceType, id and meta. _summary=true prunes at every level: inside a kept element, only
// the children marked summary in their definition stay (Observation.component keeps code and
// value[x] but not referenceRange); contained resources are not entered. _summary=text and
// data, and _elements, choose among the top-level elements only, as the specification defines
// them.

// subsetSpec is the subset _summary and _elements ask for; its zero value asks for none.
type subsetSpec struct {
	summary  string   // true, text or data; "" for none (_summary=false, or absent)
	elements []string // the element names of _elements
}

// parseSummary reads a value of _summary. count (the matches of a search, not a subset) is
// the caller's to handle: it is reported, and the subset left as it was.
func (s *subsetSpec) parseSummary(v string) (count bool, err error) {
	switch v {
	case "count":
		return true, nil
	case "true", "text", "data":
		s.summary = v
	case "false":
		s.summary = ""
	default:
		return false, badRequest("_summary: %q is not true, false, text, data or count", v)
	}
	return false, nil
}

// parseElements reads _elements: a comma-separated list of element names.
func (s *subsetSpec) parseElements(v string) {
	for e := range strings.SplitSeq(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			s.elements = append(s.elements, e)
		}
	}
}

// readSubset is the subset a read or vread asks for in its query; _summary=count is 400 there
// (it counts the matches of a search).
func readSubset(params url.Values) (subsetSpec, error) {
	var s subsetSpec
	if vs := params["_summary"]; len(vs) > 0 {
		count, err := s.parseSummary(vs[len(vs)-1])
		if err != nil {
			return s, err
		}
		if count {
			return s, badRequest("_summary=count counts the matches of a search; a read returns one resource")
		}
	}
	if vs := params["_elements"]; len(vs) > 0 {
		s.parseElements(vs[len(vs)-1])
	}
	return s, nil
}

// none reports whether the whole resource is asked for.
func (s subsetSpec) none() bool { return s.summary == "" && len(s.elements) == 0 }

// subset returns the body to send for rec: the stored bytes, or the subset asked for.
func (s subsetSpec) subset(rec store.Record) ([]byte, error) {
	if s.none() {
		return rec.Body, nil
	}
	v, err := fhir.ParseJSON(rec.Body)
	if err != nil {
		return nil, fmt.Errorf("api: stored JSON does not parse: %w", err)
	}
	def := fhir.LookupType(rec.Type)
	if def == nil {
		return rec.Body, nil
	}
	keep := func(key string) bool {
		switch key {
		case "resourceType", "id", "meta":
			return true
		}
		el, _ := def.Member(strings.TrimPrefix(key, "_"))
		if el == nil {
			return false
		}
		if el.Min > 0 {
			return true
		}
		switch s.summary {
		case "true":
			return el.Summary
		case "text":
			return key == "text"
		case "data":
			return key != "text"
		}
		name := strings.TrimSuffix(el.Name, "[x]")
		return slices.Contains(s.elements, name)
	}
	out := v.Obj[:0]
	for _, m := range v.Obj {
		if keep(m.Key) {
			out = append(out, m)
		}
	}
	v.Obj = out
	if s.summary == "true" {
		for i := range v.Obj {
			if k := v.Obj[i].Key; k != "meta" && !strings.HasPrefix(k, "_") {
				pruneChildren(&v.Obj[i].Value, def, k)
			}
		}
	}
	tagSubsetted(&v)
	return fhir.AppendJSON(nil, v), nil
}

// memberLookup is a type or a backbone element: what its JSON members stand for.
type memberLookup interface {
	Member(jsonName string) (*fhir.Element, *fhir.ElementType)
}

// pruneChildren prunes, for _summary=true, the value of member key of parent (an object, or an
// array of them) down to its summary children, recursively.
func pruneChildren(v *fhir.Value, parent memberLookup, key string) {
	el, typ := parent.Member(key)
	if el == nil {
		return
	}
	var children memberLookup
	switch {
	case len(el.Elements()) > 0: // a backbone element, or a contentReference to one
		children = el
	case typ.Def != nil && typ.Def.Kind == fhir.ComplexKind:
		children = typ.Def
	default:
		return // a primitive, or a resource (contained, Bundle.entry.resource): not entered
	}
	each := func(obj *fhir.Value) {
		if obj.Kind != fhir.Object {
			return
		}
		out := obj.Obj[:0]
		for _, m := range obj.Obj {
			c, _ := children.Member(strings.TrimPrefix(m.Key, "_"))
			if c != nil && (c.Summary || c.Min > 0) {
				out = append(out, m)
			}
		}
		obj.Obj = out
		for i := range obj.Obj {
			if !strings.HasPrefix(obj.Obj[i].Key, "_") {
				pruneChildren(&obj.Obj[i].Value, children, obj.Obj[i].Key)
			}
		}
	}
	if v.Kind == fhir.Array {
		for i := range v.Arr {
			each(&v.Arr[i])
		}
		return
	}
	each(v)
}

// tagSubsetted adds the SUBSETTED tag to meta.tag.
func tagSubsetted(v *fhir.Value) {
	tag := fhir.Value{Kind: fhir.Object, Obj: []fhir.Member{
		{Key: "system", Value: fhir.Str(subsettedSystem)},
		{Key: "code", Value: fhir.Str("SUBSETTED")},
		{Key: "display", Value: fhir.Str("Resource encoded in summary mode")},
	}}
	meta := v.Get("meta")
	if meta == nil {
		v.Set("meta", fhir.Value{Kind: fhir.Object})
		meta = v.Get("meta")
	}
	tags := meta.Get("tag")
	if tags == nil || tags.Kind != fhir.Array {
		meta.Set("tag", fhir.Value{Kind: fhir.Array, Arr: []fhir.Value{tag}})
		return
	}
	tags.Arr = append(tags.Arr, tag)
}
