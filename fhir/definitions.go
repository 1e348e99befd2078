package fhir

import (
	"slices"
	"strings"
)

// TypeKind says what sort of type a TypeDef describes.
type TypeKind uint8

const (
	PrimitiveKind TypeKind = iota + 1 // a JSON scalar: boolean, string, date, decimal, ...
	ComplexKind                       // a datatype, a JSON object: HumanName, Quantity, ...
	ResourceKind                      // a JSON object with a resourceType
)

// Unbounded is the Max of an element that may repeat without limit ("*").
const Unbounded = -1

// TypeDef is one R4 type, from the snapshot of its StructureDefinition.
type TypeDef struct {
	Name     string // "Patient", "HumanName", "date"; "SimpleQuantity" for that profile of Quantity
	Kind     TypeKind
	Abstract bool   // Resource, DomainResource, Element, BackboneElement
	Base     string // the type it specializes or constrains; "" for Element and Resource
	// members are its elements. A primitive has only id and extension: the members of the JSON
	// object "_name" that carries a primitive's extensions.
	members
}

// Element is one element definition.
type Element struct {
	Name             string        // as defined: "birthDate", "value[x]"
	Path             string        // definition path: "Patient.contact.name", "Observation.value[x]"
	Min              int           // minimum cardinality
	Max              int           // maximum cardinality, Unbounded for "*"
	Types            []ElementType // allowed types; several for a choice element (value[x])
	ContentReference string        // "#Questionnaire.item" when it reuses that element's content
	Binding          *ValueSet     // the value set of a required binding; nil when none
	Summary          bool          // part of the _summary=true view
	Modifier         bool          // changes the meaning of the element that contains it
	// noExt marks primitives without a "_name" companion in JSON: ids and the narrative div.
	noExt bool
	// members are the children of a backbone element (also of contentReference elements).
	// Elements of a datatype have none: their content is in Types[i].Def.
	members
}

// ElementType is one type an element allows.
type ElementType struct {
	Code     string   // the FHIR type: "Quantity", "string", "Reference", "BackboneElement"
	JSONName string   // the JSON member name it takes: "valueQuantity" in a choice, else the element's name
	Profile  string   // a constraint on Code that the model defines ("SimpleQuantity"), or ""
	Targets  []string // Reference and canonical targets as published; "Resource" allows any
	Def      *TypeDef // the definition of Profile, or of Code when there is no Profile
}

// members locates the children of a type or element in elementTable and their sorted JSON
// names in keyTable. The generated tables use spans rather than nested slices so that the
// recursive definitions (Questionnaire.item.item) need no initialisation code.
type members struct{ elems, keys span }

type span struct{ lo, hi uint16 }

// memberKey maps one JSON member name to an element and one of its types.
type memberKey struct {
	name string
	elem uint16 // index in elementTable
	typ  uint8  // index in the element's Types
}

// Elements are the child elements, in definition order.
func (m *members) Elements() []Element { return elementTable[m.elems.lo:m.elems.hi] }

// Member finds the element that a JSON member name stands for, with the type it selects
// ("valueQuantity" selects value[x] as Quantity). Names of primitive extensions ("_birthDate")
// are not members; look up the name without the underscore.
func (m *members) Member(jsonName string) (*Element, *ElementType) {
	k, ok := m.key(jsonName)
	if !ok {
		return nil, nil
	}
	el := &elementTable[k.elem]
	return el, &el.Types[k.typ]
}

func (m *members) key(jsonName string) (memberKey, bool) {
	keys := keyTable[m.keys.lo:m.keys.hi]
	i, found := slices.BinarySearchFunc(keys, jsonName, func(k memberKey, name string) int {
		return strings.Compare(k.name, name)
	})
	if !found {
		return memberKey{}, false
	}
	return keys[i], true
}

// LookupType returns the definition of an R4 type by name ("Patient", "HumanName", "date"),
// or nil.
func LookupType(name string) *TypeDef {
	i, found := slices.BinarySearchFunc(typeTable[:], name, func(t TypeDef, name string) int {
		return strings.Compare(t.Name, name)
	})
	if !found {
		return nil
	}
	return &typeTable[i]
}

// IsResourceType reports whether name is a concrete R4 resource type.
func IsResourceType(name string) bool {
	_, found := slices.BinarySearch(ResourceTypes, name)
	return found
}

// LookupElement returns the element at a dotted path that starts with a type name, or nil.
// Segments may be element names ("Observation.value[x]", "Patient.contact.name") or JSON
// member names ("Observation.valueQuantity.unit"); the path may go through datatypes
// ("Patient.name.given").
func LookupElement(path string) *Element {
	typeName, rest, _ := strings.Cut(path, ".")
	t := LookupType(typeName)
	if t == nil || rest == "" {
		return nil
	}
	scope, def := &t.members, (*TypeDef)(nil)
	var el *Element
	for seg := range strings.SplitSeq(rest, ".") {
		if el != nil {
			scope = &el.members
			if el.elems.hi == el.elems.lo {
				if def == nil {
					return nil
				}
				scope = &def.members
			}
		}
		var tp *ElementType
		if el, tp = scope.Member(seg); el == nil {
			el, tp = scope.byName(seg)
		}
		if el == nil {
			return nil
		}
		def = nil
		if tp != nil {
			def = tp.Def
		}
	}
	return el
}

// byName finds a child by its defined name ("value[x]"); the type is nil unless the element
// has exactly one.
func (m *members) byName(name string) (*Element, *ElementType) {
	els := m.Elements()
	for i := range els {
		if el := &els[i]; el.Name == name {
			if len(el.Types) == 1 {
				return el, &el.Types[0]
			}
			return el, nil
		}
	}
	return nil, nil
}
