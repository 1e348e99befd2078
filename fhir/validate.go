package fhir

import (
	"strings"
	"sync"
)

// maxIssues bounds the issues one validation reports; a client that sends something badly wrong
// learns enough from the first hundred.
const maxIssues = 100

// maxPathDepth bounds recursion for trees built in code (ParseJSON already bounds nesting).
const maxPathDepth = 256

// Validate checks a JSON tree against the R4 definitions and returns every problem found (up to
// maxIssues), each with the FHIRPath of the element concerned. See the package documentation
// for what is checked. A nil result means the resource is valid.
func Validate(root *Value) []Issue {
	v := validators.Get().(*validator)
	v.resource(root, resourceContext{}, true)
	issues := v.issues
	*v = validator{path: v.path[:0]}
	validators.Put(v)
	return issues
}

// validators recycles walk state, so that validating a valid resource allocates nothing.
var validators = sync.Pool{New: func() any { return &validator{path: make([]pathSeg, 0, 32)} }}

// validator holds the state of one walk. The path is kept as segments and only rendered when an
// issue is reported, so that a valid resource costs no string building.
type validator struct {
	issues  []Issue
	stopped bool
	path    []pathSeg
	profile string // the constrained type being walked (SimpleQuantity), for messages
}

// resourceContext is what references inside a resource resolve against.
type resourceContext struct {
	root      *Value // the resource whose contained list "#id" references name
	contained bool   // the current resource is itself contained in root
}

// resource validates a resource: a top-level one, a contained one, or one inside another
// resource (Bundle.entry.resource, Parameters.parameter.resource).
func (v *validator) resource(val *Value, rc resourceContext, top bool) {
	if val.Kind != Object {
		v.report("structure", "", "a resource must be a JSON object, not %s", kindName(val.Kind))
		return
	}
	rt := val.Get("resourceType")
	switch {
	case rt == nil:
		v.report("structure", "", "the resourceType member is missing")
		return
	case rt.Kind != String:
		v.report("structure", "resourceType", "resourceType must be a JSON string, not %s", kindName(rt.Kind))
		return
	}
	def := LookupType(rt.Text)
	switch {
	case def == nil || def.Kind != ResourceKind:
		v.report("structure", "resourceType", "%s is not an R4 resource type", quote(rt.Text))
		return
	case def.Abstract:
		v.report("structure", "resourceType", "%s is an abstract type; use a concrete resource type", rt.Text)
		return
	}
	if top {
		v.push(def.Name, -1)
		defer v.pop()
	}
	if !rc.contained {
		rc.root = val
	} else {
		v.containedRules(val)
	}
	v.object(val, &def.members, rc, true)
}

// containedRules are the R4 invariants on contained resources (dom-2, dom-4): they do not
// contain resources themselves and carry no version metadata of their own.
func (v *validator) containedRules(val *Value) {
	if val.Get("contained") != nil {
		v.report("invariant", "contained", "a contained resource must not contain resources (dom-2)")
	}
	if meta := val.Get("meta"); meta != nil && meta.Kind == Object {
		for _, name := range [...]string{"versionId", "lastUpdated"} {
			if meta.Get(name) != nil {
				v.report("invariant", "meta."+name, "a contained resource must not have meta.%s (dom-4)", name)
			}
		}
	}
}

// object validates the members of a JSON object against the elements of a type or backbone
// element, then the minimum cardinalities. The resourceType of a resource is not an element.
func (v *validator) object(obj *Value, m *members, rc resourceContext, isResource bool) {
	if v.stopped {
		return
	}
	if len(v.path) > maxPathDepth {
		v.report("structure", "", "the content is nested too deeply")
		return
	}
	// seen[i] is 1 + the type index under which child i appeared, 0 when absent: it finds the
	// second variant of a choice and the missing required elements without allocating.
	var seen [maxElements]uint8
	for i := range obj.Obj {
		mem := &obj.Obj[i]
		if isResource && mem.Key == "resourceType" {
			continue
		}
		name, isExt := strings.CutPrefix(mem.Key, "_")
		k, ok := m.key(name)
		if !ok || isExt && !hasExtension(k) {
			v.report("structure", mem.Key, "unknown element %s", quote(mem.Key))
			continue
		}
		el := &elementTable[k.elem]
		tp := &el.Types[k.typ]
		child := k.elem - m.elems.lo
		if prev := seen[child]; prev != 0 && prev != k.typ+1 {
			v.report("structure", tp.JSONName, "%s and %s are two values for the one element %s",
				el.Types[prev-1].JSONName, tp.JSONName, el.Name)
			continue
		}
		seen[child] = k.typ + 1
		if el.Max == 0 { // only profiles prohibit elements: SimpleQuantity.comparator
			v.report("invariant", tp.JSONName, "%s is not allowed in a %s", tp.JSONName, v.profile)
			continue
		}
		if isExt {
			v.primitiveExtension(&mem.Value, el, tp, obj, rc)
		} else {
			v.member(&mem.Value, el, tp, obj, rc)
		}
	}
	for i := range m.Elements() {
		if el := &elementTable[int(m.elems.lo)+i]; el.Min > 0 && seen[i] == 0 {
			v.report("required", el.Name, "%s is required (minimum cardinality %d)", el.Name, el.Min)
		}
	}
}

// hasExtension reports whether an element takes a "_name" companion: primitives other than ids
// and the narrative's div.
func hasExtension(k memberKey) bool {
	el := &elementTable[k.elem]
	return el.Types[k.typ].Def.Kind == PrimitiveKind && !el.noExt
}

// member validates the value of one JSON member: the cardinality shape, then each value.
func (v *validator) member(val *Value, el *Element, tp *ElementType, parent *Value, rc resourceContext) {
	v.push(tp.JSONName, -1)
	defer v.pop()
	if el.Max == 1 {
		switch val.Kind {
		case Array:
			v.report("structure", "", "%s takes a single value, not an array", tp.JSONName)
		case Null:
			v.report("structure", "", "%s must not be null", tp.JSONName)
		default:
			v.value(val, el, tp, rc)
		}
		return
	}
	if val.Kind != Array {
		v.report("structure", "", "%s repeats, so its value must be an array", tp.JSONName)
		return
	}
	if len(val.Arr) == 0 {
		v.report("structure", "", "%s is an empty array; leave it out instead", tp.JSONName)
		return
	}
	if len(val.Arr) < el.Min {
		v.report("required", "", "%s needs at least %d values", tp.JSONName, el.Min)
	}
	if el.Max > 1 && len(val.Arr) > el.Max {
		v.report("structure", "", "%s allows at most %d values", tp.JSONName, el.Max)
	}
	var ext *Value // the "_name" companion, looked up only when a null needs it
	looked := false
	for i := range val.Arr {
		if v.stopped {
			return
		}
		v.path[len(v.path)-1].index = i
		item := &val.Arr[i]
		if item.Kind == Null {
			if !looked {
				ext, looked = companion(parent, tp.JSONName), true
			}
			switch {
			case tp.Def.Kind != PrimitiveKind:
				v.report("structure", "", "%s must not contain null", tp.JSONName)
			case ext == nil:
				v.report("structure", "", "null in %s needs an entry at the same index of _%s", tp.JSONName, tp.JSONName)
			}
			continue // alignment with the companion is checked with the companion
		}
		v.value(item, el, tp, rc)
	}
}

// value validates one value of an element by its type.
func (v *validator) value(val *Value, el *Element, tp *ElementType, rc resourceContext) {
	if v.stopped {
		return
	}
	def := tp.Def
	switch def.Kind {
	case PrimitiveKind:
		v.primitive(val, def.Name, el)
	case ResourceKind:
		if el.Name == "contained" {
			v.resource(val, resourceContext{root: rc.root, contained: true}, false)
		} else {
			v.resource(val, resourceContext{}, false)
		}
	default:
		if !v.nonEmptyObject(val) {
			return
		}
		m := &el.members
		if m.elems.hi == m.elems.lo {
			m = &def.members
		}
		outer := v.profile
		if tp.Profile != "" {
			v.profile = tp.Profile
		}
		v.object(val, m, rc, false)
		v.profile = outer
		switch def.Name {
		case "Extension":
			v.extensionRule(val)
		case "Reference":
			v.reference(val, tp, rc)
		case "Coding", "CodeableConcept":
			v.codedBinding(val, el, def)
		}
	}
}

// nonEmptyObject reports a value that is not an object, or an empty one.
func (v *validator) nonEmptyObject(val *Value) bool {
	switch {
	case val.Kind != Object:
		v.report("structure", "", "%s must be a JSON object, not %s", v.name(), kindName(val.Kind))
		return false
	case len(val.Obj) == 0:
		v.report("structure", "", "%s is an empty object; FHIR does not allow empty elements", v.name())
		return false
	}
	return true
}

// companion returns the "_name" member of obj, or nil (without building the key).
func companion(obj *Value, name string) *Value {
	for i := range obj.Obj {
		if k := obj.Obj[i].Key; len(k) == len(name)+1 && k[0] == '_' && k[1:] == name {
			return &obj.Obj[i].Value
		}
	}
	return nil
}
