package api

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// _summary and _elements (search.html#summary, #elements) return a subset of each resource's
// elements, tagged SUBSETTED in meta.tag. Elements with a minimum cardinality above zero are
// always kept, as are resourceType, id and meta. _summary=true prunes at every level: inside a
// kept element, only the children marked summary in their definition stay (Observation.component
// keeps code and value[x] but not referenceRange); contained resources are not entered.
// _summary=text and data, and _elements, choose among the top-level elements only, as the
// specification defines them.

// subset returns the body to send for rec: the stored bytes, or the subset asked for.
func (r *searchRequest) subset(rec store.Record) ([]byte, error) {
	if (r.summary == "" || r.summary == "false") && len(r.elements) == 0 {
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
		switch r.summary {
		case "true":
			return el.Summary
		case "text":
			return key == "text"
		case "data":
			return key != "text"
		}
		name := strings.TrimSuffix(el.Name, "[x]")
		return slices.Contains(r.elements, name)
	}
	out := v.Obj[:0]
	for _, m := range v.Obj {
		if keep(m.Key) {
			out = append(out, m)
		}
	}
	v.Obj = out
	if r.summary == "true" {
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
