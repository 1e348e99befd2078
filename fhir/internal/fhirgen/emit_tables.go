package main

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The tables of package fhir are Go composite literals of plain structs, slices and pointers
// into other tables, which the compiler lays out as static data: nothing runs at start-up.
// Maps would be built by init code, so lookups binary-search sorted tables instead.
//
// Elements live in one flat array. The children of a type or backbone element are a contiguous
// span of it, and their JSON member names (one per type for choices: valueQuantity,
// valueString...) a sorted span of the key table. A contentReference element shares the spans
// of the element it names, which is how the recursive Questionnaire.item.item is expressed
// without an initialisation cycle.

type tables struct {
	types     []*typeDef
	typeIndex map[string]int
	vsIndex   map[string]int
	elems     []flatElement
	elemIndex map[*element]int
	keys      []flatKey
	widest    int // most children of one container
}

type flatElement struct {
	el          *element
	elems, keys [2]int
}

type flatKey struct {
	name     string
	elem, tp int
}

func emitTables(g *output, types []*typeDef, expansions []*expansion, d *definitions) error {
	t := &tables{types: types, typeIndex: map[string]int{}, vsIndex: map[string]int{}, elemIndex: map[*element]int{}}
	for i, td := range types {
		t.typeIndex[td.name] = i
	}
	for i, x := range expansions {
		t.vsIndex[x.url] = i
	}
	typeSpans := make([][2][2]int, len(types))
	for i, td := range types {
		typeSpans[i][0], typeSpans[i][1] = t.layout(td.elements)
	}
	for i := range t.elems {
		if ref := t.elems[i].el.ref; ref != nil {
			target := t.elems[t.elemIndex[ref]]
			t.elems[i].elems, t.elems[i].keys = target.elems, target.keys
		}
	}
	if len(t.elems) > 1<<16 || len(t.keys) > 1<<16 {
		return fmt.Errorf("tables too large for 16-bit spans: %d elements, %d keys", len(t.elems), len(t.keys))
	}
	steps := []func() error{
		func() error { return g.add("types_gen.go", "fhir", t.typesSource(typeSpans)) },
		func() error {
			src, err := t.elementsSource()
			if err != nil {
				return err
			}
			return g.add("elements_gen.go", "fhir", src)
		},
		func() error { return g.add("valuesets_gen.go", "fhir", valueSetsSource(expansions)) },
		func() error { return g.add("searchparams_gen.go", "fhir", searchParamsSource(d.searchParams)) },
		func() error { return g.add("compartment_gen.go", "fhir", compartmentSource(d.compartment)) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// layout appends a container's children (contiguous), then their sorted keys, then recursively
// the children of each backbone child, and returns the two spans.
func (t *tables) layout(children []*element) (elems, keys [2]int) {
	lo := len(t.elems)
	for _, c := range children {
		t.elemIndex[c] = len(t.elems)
		t.elems = append(t.elems, flatElement{el: c})
	}
	elems = [2]int{lo, len(t.elems)}
	t.widest = max(t.widest, len(children))
	var ks []flatKey
	for i, c := range children {
		for ti, tp := range c.types {
			ks = append(ks, flatKey{name: c.jsonName(tp), elem: lo + i, tp: ti})
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].name < ks[j].name })
	keys = [2]int{len(t.keys), len(t.keys) + len(ks)}
	t.keys = append(t.keys, ks...)
	for i, c := range children {
		if len(c.children) > 0 {
			t.elems[lo+i].elems, t.elems[lo+i].keys = t.layout(c.children)
		}
	}
	return elems, keys
}

func (t *tables) typesSource(spans [][2][2]int) []byte {
	var b bytes.Buffer
	b.WriteString("\n// typeTable holds every R4 type, sorted by name.\nvar typeTable = [...]TypeDef{\n")
	var resources []string
	for i, td := range t.types {
		kind := map[string]string{"primitive-type": "PrimitiveKind", "complex-type": "ComplexKind", "resource": "ResourceKind"}[td.kind]
		fmt.Fprintf(&b, "/* %d */ {Name: %q, Kind: %s", i, td.name, kind)
		if td.abstract {
			b.WriteString(", Abstract: true")
		}
		if td.base != "" {
			fmt.Fprintf(&b, ", Base: %q", td.base)
		}
		fmt.Fprintf(&b, ", members: %s},\n", membersLit(spans[i][0], spans[i][1]))
		if td.kind == "resource" && !td.abstract {
			resources = append(resources, td.name)
		}
	}
	b.WriteString("}\n\n// ResourceTypes lists the concrete R4 resource types, sorted. Do not modify it.\nvar ResourceTypes = []string{\n")
	for _, r := range resources {
		fmt.Fprintf(&b, "%q,\n", r)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func membersLit(elems, keys [2]int) string {
	return fmt.Sprintf("members{span{%d, %d}, span{%d, %d}}", elems[0], elems[1], keys[0], keys[1])
}

func (t *tables) elementsSource() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n// maxElements is the largest number of child elements of one type or backbone element.\nconst maxElements = %d\n", t.widest)
	b.WriteString("\n// elementTable holds every element definition; see members for how it is indexed.\nvar elementTable = [...]Element{\n")
	for i, fe := range t.elems {
		el := fe.el
		fmt.Fprintf(&b, "/* %d */ {Name: %q, Path: %q", i, el.name, el.path)
		if el.min != 0 {
			fmt.Fprintf(&b, ", Min: %d", el.min)
		}
		if el.max == -1 {
			b.WriteString(", Max: Unbounded")
		} else {
			fmt.Fprintf(&b, ", Max: %d", el.max)
		}
		if len(el.types) > 0 {
			b.WriteString(", Types: []ElementType{")
			for j, tp := range el.types {
				if j > 0 {
					b.WriteString(", ")
				}
				lit, err := t.elementTypeLit(el, tp)
				if err != nil {
					return nil, err
				}
				b.WriteString(lit)
			}
			b.WriteString("}")
		}
		if el.contentRef != "" {
			fmt.Fprintf(&b, ", ContentReference: %q", el.contentRef)
		}
		if el.binding != "" {
			fmt.Fprintf(&b, ", Binding: &valueSetTable[%d]", t.vsIndex[el.binding])
		}
		if el.summary {
			b.WriteString(", Summary: true")
		}
		if el.modifier {
			b.WriteString(", Modifier: true")
		}
		if el.noExt {
			b.WriteString(", noExt: true")
		}
		if fe.elems[1] > fe.elems[0] {
			fmt.Fprintf(&b, ", members: %s", membersLit(fe.elems, fe.keys))
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n\n// keyTable maps JSON member names to elements; each container's keys are sorted by name.\nvar keyTable = [...]memberKey{\n")
	for _, k := range t.keys {
		fmt.Fprintf(&b, "{%q, %d, %d},\n", k.name, k.elem, k.tp)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func (t *tables) elementTypeLit(el *element, tp elementType) (string, error) {
	defName := tp.code
	if tp.profile != "" {
		defName = tp.profile
	}
	idx, ok := t.typeIndex[defName]
	if !ok {
		return "", fmt.Errorf("%s: unknown type %s", el.path, defName)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{Code: %q, JSONName: %q", tp.code, el.jsonName(tp))
	if tp.profile != "" {
		fmt.Fprintf(&b, ", Profile: %q", tp.profile)
	}
	if len(tp.targets) > 0 {
		fmt.Fprintf(&b, ", Targets: %s", stringsLit(tp.targets))
	}
	fmt.Fprintf(&b, ", Def: &typeTable[%d]}", idx)
	return b.String(), nil
}

func stringsLit(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[]string{" + strings.Join(q, ", ") + "}"
}

func valueSetsSource(expansions []*expansion) []byte {
	var b bytes.Buffer
	b.WriteString("\n// valueSetTable holds the value sets of required bindings, sorted by url.\nvar valueSetTable = [...]ValueSet{\n")
	for _, x := range expansions {
		if !x.enumerable {
			fmt.Fprintf(&b, "// Not enumerable, so not checked: %s.\n", x.reason)
			fmt.Fprintf(&b, "{URL: %q, Name: %q, Reason: %q},\n", x.url, x.name, x.reason)
			continue
		}
		fmt.Fprintf(&b, "{URL: %q, Name: %q, Enumerable: true, Codes: []Concept{\n", x.url, x.name)
		for _, c := range x.codes {
			fmt.Fprintf(&b, "{%q, %q},\n", c.system, c.code)
		}
		b.WriteString("}},\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func searchParamsSource(params []*searchParameter) []byte {
	type entry struct {
		base string
		sp   *searchParameter
	}
	var entries []entry
	var shared []*searchParameter
	for _, sp := range params {
		for _, base := range sp.Base {
			entries = append(entries, entry{base, sp})
		}
		if len(sp.Base) > 1 && sp.Expression != "" {
			shared = append(shared, sp)
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.base != b.base {
			return a.base < b.base
		}
		return a.sp.Code < b.sp.Code
	})
	sort.Slice(shared, func(i, j int) bool { return shared[i].ID < shared[j].ID })
	var b bytes.Buffer
	b.WriteString("\n// Expressions of parameters defined on several bases, written once.\nconst (\n")
	for _, sp := range shared {
		fmt.Fprintf(&b, "expr%s = %q\n", identWords(sp.ID), sp.Expression)
	}
	b.WriteString(")\n\n// searchParamTable holds one entry per search parameter and base type, sorted by base, then code.\nvar searchParamTable = [...]SearchParam{\n")
	for _, e := range entries {
		sp := e.sp
		fmt.Fprintf(&b, "{Base: %q, Code: %q, Type: %q", e.base, sp.Code, sp.Type)
		switch {
		case sp.Expression == "":
		case len(sp.Base) > 1:
			fmt.Fprintf(&b, ", Expression: expr%s", identWords(sp.ID))
		default:
			fmt.Fprintf(&b, ", Expression: %q", sp.Expression)
		}
		if len(sp.Target) > 0 {
			targets := append([]string(nil), sp.Target...)
			sort.Strings(targets)
			fmt.Fprintf(&b, ", Targets: %s", stringsLit(targets))
		}
		if len(sp.Component) > 0 {
			b.WriteString(", Components: []SearchParamComponent{")
			for i, c := range sp.Component {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "{Definition: %q, Expression: %q}", c.Definition, c.Expression)
			}
			b.WriteString("}")
		}
		fmt.Fprintf(&b, ",\nURL: %q,\nDescription: %q},\n", sp.URL, baseDescription(sp, e.base))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// baseDescription is the part of a parameter's description about one base. Parameters defined
// on several bases are described as "Multiple Resources:" followed by a line per base:
// "* [Patient](patient.html): A portion of the given name of the patient".
func baseDescription(sp *searchParameter, base string) string {
	if len(sp.Base) == 1 {
		return sp.Description
	}
	prefix := "* [" + base + "]("
	for line := range strings.SplitSeq(sp.Description, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			if _, text, ok := strings.Cut(rest, "): "); ok {
				return strings.TrimSpace(text)
			}
		}
	}
	return sp.Description
}

func compartmentSource(c *compartmentDefinition) []byte {
	members := c.Resource
	sort.Slice(members, func(i, j int) bool { return members[i].Code < members[j].Code })
	var b bytes.Buffer
	b.WriteString("\n// PatientCompartment lists the resource types in the Patient compartment, sorted, with the\n")
	b.WriteString("// search parameters that link a resource of that type to its patient. Do not modify it.\n")
	b.WriteString("var PatientCompartment = []CompartmentMember{\n")
	for _, m := range members {
		if len(m.Param) == 0 {
			continue // listed by the definition as never in the compartment
		}
		fmt.Fprintf(&b, "{ResourceType: %q, Params: %s},\n", m.Code, stringsLit(m.Param))
	}
	b.WriteString("}\n")
	return b.Bytes()
}
