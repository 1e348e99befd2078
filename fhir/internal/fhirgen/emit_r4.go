package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// r4Emitter writes package r4: a Go struct per resource, datatype and backbone element, and a
// string type with constants per enumerable value set that a code element binds as required.
type r4Emitter struct {
	types     map[string]*typeDef
	codeTypes map[string]*expansion // Go type name -> value set
	codeType  map[string]string     // value set url -> Go type name
}

func emitR4(g *output, types []*typeDef, expansions []*expansion) error {
	e := &r4Emitter{types: map[string]*typeDef{}, codeTypes: map[string]*expansion{}, codeType: map[string]string{}}
	taken := map[string]bool{"Decimal": true}
	for _, t := range types {
		e.types[t.name] = t
		if e.hasStruct(t) {
			taken[t.name] = true
			walkElements([]*typeDef{t}, func(el *element) {
				if len(el.children) > 0 {
					taken[backboneName(el)] = true
				}
			})
		}
	}
	if err := e.nameCodeTypes(types, expansions, taken); err != nil {
		return err
	}
	var datatypes bytes.Buffer
	for _, t := range types {
		if !e.hasStruct(t) {
			continue
		}
		if t.kind == "resource" {
			var b bytes.Buffer
			if err := e.writeStructs(&b, t); err != nil {
				return err
			}
			if err := g.add("r4/"+strings.ToLower(t.name)+"_gen.go", "r4", b.Bytes(), jsonImport(b.Bytes())...); err != nil {
				return err
			}
			continue
		}
		if err := e.writeStructs(&datatypes, t); err != nil {
			return err
		}
	}
	if err := g.add("r4/datatypes_gen.go", "r4", datatypes.Bytes(), jsonImport(datatypes.Bytes())...); err != nil {
		return err
	}
	codes, err := e.codes()
	if err != nil {
		return err
	}
	return g.add("r4/codes_gen.go", "r4", codes)
}

// jsonImport is the import a struct file needs: encoding/json when it holds resources
// (json.RawMessage).
func jsonImport(src []byte) []string {
	if bytes.Contains(src, []byte(" json.RawMessage")) || bytes.Contains(src, []byte("[]json.RawMessage")) {
		return []string{"encoding/json"}
	}
	return nil
}

// hasStruct says which types get a Go struct: resources and datatypes that can occur in an
// instance, plus Element, the type of primitive extensions (_birthDate). Constraint profiles
// (SimpleQuantity) are their base type in Go.
func (e *r4Emitter) hasStruct(t *typeDef) bool {
	switch {
	case t.kind == "primitive-type" || t.constraint:
		return false
	case t.name == "Element":
		return true
	}
	return !t.abstract
}

// nameCodeTypes picks a unique Go type name for every enumerable value set bound as required to
// an element of type code.
func (e *r4Emitter) nameCodeTypes(types []*typeDef, expansions []*expansion, taken map[string]bool) error {
	byURL := map[string]*expansion{}
	for _, x := range expansions {
		byURL[x.url] = x
	}
	used := map[string]bool{}
	walkElements(types, func(el *element) {
		if x := byURL[el.binding]; x != nil && x.enumerable && len(el.types) == 1 && el.types[0].code == "code" {
			used[x.url] = true
		}
	})
	for _, url := range sortedKeys(used) {
		x := byURL[url]
		name := codeTypeName(x)
		for _, candidate := range []string{name, urlTypeName(x), urlTypeName(x) + "Code"} {
			if !taken[candidate] {
				name = candidate
				break
			}
		}
		if taken[name] {
			return fmt.Errorf("value set %s: no free Go type name (tried %s)", url, name)
		}
		taken[name] = true
		e.codeTypes[name] = x
		e.codeType[url] = name
	}
	return nil
}

// backboneName is the Go type of an inline element: its path without dots (PatientContact).
func backboneName(el *element) string {
	var b strings.Builder
	for _, seg := range strings.Split(el.path, ".") {
		b.WriteString(upperFirst(seg))
	}
	return b.String()
}

// writeStructs writes the struct of a type followed by those of its backbone elements.
func (e *r4Emitter) writeStructs(b *bytes.Buffer, t *typeDef) error {
	kind := map[string]string{"resource": "resource", "complex-type": "datatype"}[t.kind]
	fmt.Fprintf(b, "\n// %s is the FHIR R4 %s %s: %s\n", t.name, t.name, kind, sentence(t.short))
	fmt.Fprintf(b, "type %s struct {\n", t.name)
	if t.kind == "resource" {
		fmt.Fprintf(b, "ResourceType string `json:\"resourceType\"` // always %q\n", t.name)
	}
	if err := e.writeFields(b, t.name, t.elements); err != nil {
		return err
	}
	b.WriteString("}\n")
	var backbones []*element
	walkElements([]*typeDef{t}, func(el *element) {
		if len(el.children) > 0 {
			backbones = append(backbones, el)
		}
	})
	for _, el := range backbones {
		name := backboneName(el)
		fmt.Fprintf(b, "\n// %s is %s: %s\n", name, el.path, sentence(el.short))
		fmt.Fprintf(b, "type %s struct {\n", name)
		if err := e.writeFields(b, name, el.children); err != nil {
			return err
		}
		b.WriteString("}\n")
	}
	return nil
}

func (e *r4Emitter) writeFields(b *bytes.Buffer, structName string, els []*element) error {
	seen := map[string]bool{}
	field := func(name, goType, jsonName, comment string) error {
		if seen[name] {
			return fmt.Errorf("%s: two fields named %s", structName, name)
		}
		seen[name] = true
		fmt.Fprintf(b, "%s %s `json:\"%s,omitempty\"` // %s\n", name, goType, jsonName, comment)
		return nil
	}
	for _, el := range els {
		if el.max == 0 {
			continue // prohibited by the definition
		}
		repeats := el.max != 1
		for _, t := range el.types {
			jsonName := el.jsonName(t)
			name := goName(jsonName)
			goType, scalar := e.goType(el, t)
			switch {
			case repeats:
				goType = "[]" + goType
			case !scalar:
				goType = "*" + goType
			}
			if err := field(name, goType, jsonName, oneLine(el.short)); err != nil {
				return err
			}
			if def := e.types[t.code]; def != nil && def.kind == "primitive-type" && !el.noExt {
				ext := "*Element"
				if repeats {
					ext = "[]*Element"
				}
				if err := field(name+"Ext", ext, "_"+jsonName, "extensions and id of "+jsonName); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// goType is the Go type for one type of an element; scalar reports whether a single value is
// held without a pointer (types whose zero value is not a valid FHIR value, so omitempty can
// stand for "absent": strings, Decimal, json.RawMessage).
func (e *r4Emitter) goType(el *element, t elementType) (goType string, scalar bool) {
	if el.ref != nil {
		return backboneName(el.ref), false
	}
	if len(el.children) > 0 {
		return backboneName(el), false
	}
	switch t.code {
	case "boolean":
		return "bool", false
	case "integer", "positiveInt", "unsignedInt":
		return "int32", false
	case "decimal":
		return "Decimal", true
	case "Resource":
		return "json.RawMessage", true
	case "code":
		if name, ok := e.codeType[el.binding]; ok {
			return name, true
		}
	}
	if def := e.types[t.code]; def != nil && def.kind == "primitive-type" {
		return "string", true
	}
	return t.code, false
}

// codes writes the code types, sorted by name, with a constant per code.
func (e *r4Emitter) codes() ([]byte, error) {
	var b bytes.Buffer
	for _, name := range sortedKeys(e.codeTypes) {
		x := e.codeTypes[name]
		fmt.Fprintf(&b, "\n// %s is a code of the value set %s (required binding).\n", name, x.url)
		fmt.Fprintf(&b, "type %s string\n\nconst (\n", name)
		done := map[string]bool{}
		consts := map[string]string{}
		for _, c := range x.codes {
			if done[c.code] { // the same code from two systems is one Go constant
				continue
			}
			done[c.code] = true
			constName := name + codeName(c.code, c.display)
			if prev, dup := consts[constName]; dup {
				return nil, fmt.Errorf("%s: codes %q and %q both make the constant %s", x.url, prev, c.code, constName)
			}
			consts[constName] = c.code
			fmt.Fprintf(&b, "%s %s = %s", constName, name, strconv.Quote(c.code))
			if display := oneLine(c.display); display != "" && display != c.code {
				fmt.Fprintf(&b, " // %s", display)
			}
			b.WriteByte('\n')
		}
		b.WriteString(")\n")
	}
	return b.Bytes(), nil
}

// sentence makes a definition's short text a doc-comment sentence.
func sentence(s string) string {
	s = oneLine(s)
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// oneLine flattens text for a line comment.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
