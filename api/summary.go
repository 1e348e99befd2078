package api

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// _summary and _elements (search.html#summary, #elements) return a subset of each resource's
// top-level elements, tagged SUBSETTED in meta.tag. Elements with a minimum cardinality above
// zero are always kept, as are resourceType, id and meta. Nested elements are not pruned.

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
	tagSubsetted(&v)
	return fhir.AppendJSON(nil, v), nil
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
