package fhir

import "strings"

// primitiveExtension validates the "_name" companion of a primitive element, which carries
// the id and extensions of the value (FHIR JSON, section 2.6.2.1). For a repeating primitive
// both are arrays aligned by index, with null where one side has nothing:
//
//	"given": ["Ann", null], "_given": [null, {"extension": [...]}]
func (v *validator) primitiveExtension(val *Value, el *Element, tp *ElementType, parent *Value, rc resourceContext) {
	v.push(tp.JSONName, -1)
	defer v.pop()
	ext := extName{tp.JSONName}
	if el.Max == 1 {
		if val.Kind != Object {
			v.report("structure", "", "%s must be a JSON object holding id and extension, not %s", ext, kindName(val.Kind))
			return
		}
		v.extensionObject(val, ext, tp, rc)
		return
	}
	if val.Kind != Array {
		v.report("structure", "", "%s must be an array aligned with %s, not %s", ext, tp.JSONName, kindName(val.Kind))
		return
	}
	if len(val.Arr) == 0 {
		v.report("structure", "", "%s is an empty array; leave it out instead", ext)
		return
	}
	values := parent.Get(tp.JSONName)
	if values != nil && values.Kind == Array && len(values.Arr) != len(val.Arr) {
		v.report("structure", "", "%s has %d entries but %s has %d; they must align by index",
			ext, len(val.Arr), tp.JSONName, len(values.Arr))
		return
	}
	for i := range val.Arr {
		v.path[len(v.path)-1].index = i
		item := &val.Arr[i]
		if item.Kind != Null {
			v.extensionObject(item, ext, tp, rc)
			continue
		}
		if values == nil || values.Kind != Array || values.Arr[i].Kind == Null {
			v.report("structure", "", "%s and %s are both null at index %d", tp.JSONName, ext, i)
		}
	}
}

// extName prints as "_name" in messages; building that string only when a message needs it
// keeps valid resources free of allocations.
type extName struct{ name string }

func (e extName) String() string { return "_" + e.name }

// extensionObject validates one entry of a "_name" companion: an Element (id, extension).
func (v *validator) extensionObject(val *Value, ext extName, tp *ElementType, rc resourceContext) {
	switch {
	case val.Kind != Object:
		v.report("structure", "", "the entries of %s must be objects or null, not %s", ext, kindName(val.Kind))
	case len(val.Obj) == 0:
		v.report("structure", "", "%s holds an empty object; FHIR does not allow empty elements", ext)
	default:
		v.object(val, &tp.Def.members, rc, false)
	}
}

// extensionRule is invariant ext-1: an extension has either a value or nested extensions,
// never both, never neither.
func (v *validator) extensionRule(val *Value) {
	hasValue, hasNested := false, false
	for _, m := range val.Obj {
		switch {
		case m.Key == "extension":
			hasNested = true
		case strings.HasPrefix(m.Key, "value") || strings.HasPrefix(m.Key, "_value"):
			hasValue = true
		}
	}
	switch {
	case hasValue && hasNested:
		v.report("invariant", "", "an extension must have either a value or nested extensions, not both (ext-1)")
	case !hasValue && !hasNested:
		v.report("invariant", "", "an extension must have a value or nested extensions (ext-1)")
	}
}
