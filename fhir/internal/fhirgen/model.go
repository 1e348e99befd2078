package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// typeDef is one R4 type as the emitters see it: a primitive, a complex datatype, a resource,
// or a constrained datatype that the model names (SimpleQuantity).
type typeDef struct {
	name     string
	kind     string // primitive-type | complex-type | resource
	abstract bool
	// constraint marks a profile on another type (SimpleQuantity constrains Quantity).
	constraint bool
	base       string // name of the base type, "" for Element and Resource
	short      string
	elements   []*element // the children of the root element, in snapshot order
}

// element is one element of a snapshot, with its children attached (backbone elements) and its
// contentReference resolved.
type element struct {
	name       string // last path segment, "value[x]" for choices
	path       string // the definition path, e.g. "Observation.component.value[x]"
	short      string
	min, max   int // max is -1 for "*"
	types      []elementType
	contentRef string   // "#Questionnaire.item" as published
	ref        *element // the element contentRef points at
	binding    string   // url of the required binding's value set, version removed
	summary    bool
	modifier   bool
	// noExt marks primitives that have no "_name" companion in JSON: element and resource ids
	// and the narrative's xhtml (the R4 JSON schema has no _id or _div).
	noExt    bool
	children []*element
}

type elementType struct {
	code    string   // "Quantity", "string", "BackboneElement"
	profile string   // constrained type name ("SimpleQuantity") when the model defines it
	targets []string // Reference/canonical target type names, as published
}

// isChoice reports whether the element is a polymorphic value[x].
func (e *element) isChoice() bool { return strings.HasSuffix(e.name, "[x]") }

// jsonName is the JSON member name of the element when it carries type t.
func (e *element) jsonName(t elementType) string {
	if e.isChoice() {
		return strings.TrimSuffix(e.name, "[x]") + upperFirst(t.code)
	}
	return e.name
}

const (
	extFHIRType = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
	sdPrefix    = "http://hl7.org/fhir/StructureDefinition/"
)

// buildTypes turns the StructureDefinitions into type definitions sorted by name. Logical models
// (MetadataResource) are not types an instance can have and are left out. Constraint profiles
// (SimpleQuantity, MoneyQuantity) are kept here; resolveProfiles drops those no element uses.
func buildTypes(sds []*structureDefinition) ([]*typeDef, error) {
	var types []*typeDef
	for _, sd := range sds {
		if sd.Kind == "logical" {
			continue
		}
		t, err := buildType(sd)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sd.ID, err)
		}
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool { return types[i].name < types[j].name })
	for i := 1; i < len(types); i++ {
		if types[i].name == types[i-1].name {
			return nil, fmt.Errorf("type %s defined twice", types[i].name)
		}
	}
	return types, nil
}

func buildType(sd *structureDefinition) (*typeDef, error) {
	els := sd.Snapshot.Element
	if len(els) == 0 {
		return nil, fmt.Errorf("no snapshot")
	}
	t := &typeDef{
		name:     sd.ID,
		kind:     sd.Kind,
		abstract: sd.Abstract,
		base:     strings.TrimPrefix(sd.BaseDef, sdPrefix),
		short:    els[0].Short,
	}
	if sd.Derivation == "constraint" {
		t.constraint, t.base = true, sd.Type
	}
	root := &element{path: els[0].Path}
	byPath := map[string]*element{root.path: root}
	for _, ed := range els[1:] {
		if t.kind == "primitive-type" && ed.Path == root.path+".value" {
			continue // the value of a primitive is the JSON value itself, not a member
		}
		e, err := buildElement(ed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ed.Path, err)
		}
		parentPath := ed.Path[:strings.LastIndexByte(ed.Path, '.')]
		parent := byPath[parentPath]
		if parent == nil {
			return nil, fmt.Errorf("%s: parent %s not found", ed.Path, parentPath)
		}
		if _, dup := byPath[ed.Path]; dup {
			return nil, fmt.Errorf("%s: slices are not supported", ed.Path)
		}
		byPath[ed.Path] = e
		parent.children = append(parent.children, e)
	}
	for _, e := range byPath {
		if e.contentRef == "" {
			continue
		}
		e.ref = byPath[strings.TrimPrefix(e.contentRef, "#")]
		if e.ref == nil {
			return nil, fmt.Errorf("%s: contentReference %s not found", e.path, e.contentRef)
		}
		e.types = e.ref.types // published without types; it has those of the element it reuses
	}
	t.elements = root.children
	return t, nil
}

func buildElement(ed elementDefinition) (*element, error) {
	e := &element{
		name:       ed.Path[strings.LastIndexByte(ed.Path, '.')+1:],
		path:       ed.Path,
		short:      ed.Short,
		min:        ed.Min,
		contentRef: ed.ContentReference,
		summary:    ed.IsSummary,
		modifier:   ed.IsModifier,
	}
	if ed.Max == "*" {
		e.max = -1
	} else {
		n, err := strconv.Atoi(ed.Max)
		if err != nil {
			return nil, fmt.Errorf("max %q: %w", ed.Max, err)
		}
		e.max = n
	}
	if ed.Binding != nil && ed.Binding.Strength == "required" {
		e.binding, _, _ = strings.Cut(ed.Binding.ValueSet, "|")
	}
	for _, tr := range ed.Type {
		et := elementType{code: typeCode(ed, tr)}
		for _, p := range tr.Profile {
			et.profile = strings.TrimPrefix(p, sdPrefix)
		}
		for _, tp := range tr.TargetProfile {
			et.targets = append(et.targets, strings.TrimPrefix(tp, sdPrefix))
		}
		e.types = append(e.types, et)
	}
	e.noExt = ed.Base.Path == "Element.id" || ed.Base.Path == "Resource.id" ||
		(len(e.types) == 1 && e.types[0].code == "xhtml")
	return e, nil
}

// typeCode is the FHIR type of an element. Element ids and Extension.url are published with
// FHIRPath system types (System.String) and the FHIR type in an extension; Resource.id is
// published as a string although the specification and the JSON schema make it an id, which is
// what servers must enforce ([A-Za-z0-9\-\.]{1,64}).
func typeCode(ed elementDefinition, tr typeRef) string {
	if ed.Base.Path == "Resource.id" {
		return "id"
	}
	if system, ok := strings.CutPrefix(tr.Code, "http://hl7.org/fhirpath/System."); ok {
		for _, x := range tr.Extension {
			if x.URL == extFHIRType {
				return x.ValueURL
			}
		}
		if system == "String" {
			return "string" // xhtml.id is published without the extension
		}
	}
	return tr.Code
}

// resolveProfiles keeps an element type's profile only when the model defines that profile as
// a type, and drops the constraint profiles no element refers to. What stays is how the model
// knows, e.g., that Observation.referenceRange.low is a SimpleQuantity, which has no comparator.
func resolveProfiles(types []*typeDef) []*typeDef {
	byName := map[string]*typeDef{}
	for _, t := range types {
		byName[t.name] = t
	}
	used := map[string]bool{}
	walkElements(types, func(e *element) {
		for i := range e.types {
			if p := e.types[i].profile; p != "" {
				if byName[p] == nil {
					e.types[i].profile = ""
				} else {
					used[p] = true
				}
			}
		}
	})
	var out []*typeDef
	for _, t := range types {
		if t.constraint && !used[t.name] {
			continue
		}
		out = append(out, t)
	}
	return out
}

// walkElements calls fn for every element of every type, depth first in snapshot order.
func walkElements(types []*typeDef, fn func(*element)) {
	var walk func([]*element)
	walk = func(els []*element) {
		for _, e := range els {
			fn(e)
			walk(e.children)
		}
	}
	for _, t := range types {
		walk(t.elements)
	}
}
