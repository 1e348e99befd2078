package fhirpatch

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-health/portico/fhir"
)

// MaxOperations is the most operations a patch may hold (as for JSON Patch).
const MaxOperations = 1000

// DocumentError reports a Parameters resource that is not a FHIRPath Patch this package can
// apply. Its message names operations by index and parts by name, never values (they may hold
// PHI); a path is quoted only where it is malformed.
type DocumentError struct {
	Index int // the operation concerned, -1 for the document as a whole
	Msg   string
	// Unsupported marks a path that is FHIRPath, but more than the subset this package
	// evaluates (resolve(), ofType(), !=, ...), rather than a malformed document.
	Unsupported bool
}

func (e *DocumentError) Error() string {
	if e.Index < 0 {
		return "invalid FHIRPath Patch: " + e.Msg
	}
	return fmt.Sprintf("invalid FHIRPath Patch operation %d: %s", e.Index, e.Msg)
}

// Operation is one "operation" parameter.
type Operation struct {
	Type  string // add, insert, delete, replace or move
	Path  *Path
	Name  string // add: the element to add
	Value *Value // add, insert, replace
	// Index (insert), Source and Destination (move) are list positions, 0-based.
	Index, Source, Destination int
}

// Value is the value of an operation: a typed value (value[x] or a resource), or, for an
// element without a type of its own (a backbone element such as Patient.contact), the parts
// that make it up.
type Value struct {
	Type  string      // the FHIR type of value[x] ("date", "HumanName") or the resourceType; "" for parts
	JSON  fhir.Value  // value[x] or the resource
	Ext   *fhir.Value // the _value[x] of a primitive: its id and extensions
	Parts []NamedValue
}

// NamedValue is one part of an anonymous value: an element name and its value.
type NamedValue struct {
	Name  string
	Value *Value
}

// Patch is a decoded FHIRPath Patch.
type Patch []Operation

// opParts are the parts each operation type takes, all required (fhirpatch.html).
var opParts = map[string][]string{
	"add":     {"path", "name", "value"},
	"insert":  {"path", "value", "index"},
	"delete":  {"path"},
	"replace": {"path", "value"},
	"move":    {"path", "source", "destination"},
}

// Decode reads a FHIRPath Patch from a Parameters resource (already validated as one).
func Decode(params fhir.Value) (Patch, error) {
	if params.Kind != fhir.Object {
		return nil, &DocumentError{Index: -1, Msg: "a FHIRPath Patch is a Parameters resource"}
	}
	if rt := params.Get("resourceType"); rt == nil || rt.Text != "Parameters" {
		return nil, &DocumentError{Index: -1, Msg: "a FHIRPath Patch is a Parameters resource"}
	}
	list := params.Get("parameter")
	if list == nil {
		return Patch{}, nil // no operation: the resource is written again unchanged
	}
	if list.Kind != fhir.Array {
		return nil, &DocumentError{Index: -1, Msg: "parameter must be an array"}
	}
	if len(list.Arr) > MaxOperations {
		return nil, &DocumentError{Index: -1, Msg: fmt.Sprintf("a FHIRPath Patch may hold at most %d operations", MaxOperations)}
	}
	p := make(Patch, 0, len(list.Arr))
	for i := range list.Arr {
		op, err := decodeOp(&list.Arr[i])
		if err != nil {
			var u unsupported
			return nil, &DocumentError{Index: i, Msg: err.Error(), Unsupported: errors.As(err, &u)}
		}
		p = append(p, op)
	}
	return p, nil
}

func decodeOp(param *fhir.Value) (Operation, error) {
	var op Operation
	if name := stringMember(param, "name"); name != "operation" {
		return op, fmt.Errorf("every parameter of a FHIRPath Patch is named operation, not %q", name)
	}
	if k, ok := valueKey(param); ok || param.Get("resource") != nil {
		return op, fmt.Errorf("an operation has parts, not a value (%s)", strings.TrimPrefix(k, "_"))
	}
	parts := map[string]*fhir.Value{}
	if list := param.Get("part"); list != nil {
		for i := range list.Arr {
			part := &list.Arr[i]
			name := stringMember(part, "name")
			if _, dup := parts[name]; dup {
				return op, fmt.Errorf("the part %q is given twice", name)
			}
			parts[name] = part
		}
	}
	typ, err := primitivePart(parts["type"], "type", "valueCode", "valueString")
	if err != nil {
		return op, err
	}
	want, ok := opParts[typ]
	if !ok {
		return op, fmt.Errorf("type %q is not add, insert, delete, replace or move", typ)
	}
	op.Type = typ
	for name := range parts {
		if name != "type" && !slices.Contains(want, name) {
			return op, fmt.Errorf("a %s operation takes no %q part (it takes %s)", typ, name, strings.Join(want, ", "))
		}
	}
	for _, name := range want {
		part := parts[name]
		if part == nil {
			return op, fmt.Errorf("a %s operation needs a %q part", typ, name)
		}
		switch name {
		case "path":
			src, err := primitivePart(part, name, "valueString")
			if err != nil {
				return op, err
			}
			if op.Path, err = ParsePath(src); err != nil {
				return op, err
			}
		case "name":
			if op.Name, err = primitivePart(part, name, "valueString", "valueCode"); err != nil {
				return op, err
			}
		case "index", "source", "destination":
			n, err := integerPart(part, name)
			if err != nil {
				return op, err
			}
			switch name {
			case "index":
				op.Index = n
			case "source":
				op.Source = n
			default:
				op.Destination = n
			}
		case "value":
			if op.Value, err = decodeValue(part, "value"); err != nil {
				return op, err
			}
		}
	}
	return op, nil
}

// parameterDef is Parameters.parameter, whose value[x] types name the types of values.
var parameterDef, _ = fhir.LookupType("Parameters").Member("parameter")

// decodeValue reads the value of a part: value[x], resource, or parts (an anonymous value).
func decodeValue(part *fhir.Value, what string) (*Value, error) {
	key, hasValue := valueKey(part)
	res, sub := part.Get("resource"), part.Get("part")
	n := 0
	for _, has := range []bool{hasValue, res != nil, sub != nil} {
		if has {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("the %s part needs exactly one of value[x], resource or part", what)
	}
	switch {
	case hasValue:
		_, et := parameterDef.Member(key)
		if et == nil {
			return nil, fmt.Errorf("the %s part: %s is not a value[x] of Parameters", what, key)
		}
		v := &Value{Type: et.Code}
		if m := part.Get(key); m != nil {
			v.JSON = *m
		} else { // only _value[x]: a primitive with extensions and no value
			v.JSON = fhir.Value{Kind: fhir.Null}
		}
		if ext := part.Get("_" + key); ext != nil {
			v.Ext = ext
		}
		return v, nil
	case res != nil:
		rt := res.Get("resourceType")
		if rt == nil || rt.Kind != fhir.String || !fhir.IsResourceType(rt.Text) {
			return nil, fmt.Errorf("the %s part holds a resource without a known resourceType", what)
		}
		return &Value{Type: rt.Text, JSON: *res}, nil
	}
	if sub.Kind != fhir.Array || len(sub.Arr) == 0 {
		return nil, fmt.Errorf("the %s part has no parts", what)
	}
	v := &Value{}
	for i := range sub.Arr {
		name := stringMember(&sub.Arr[i], "name")
		if name == "" {
			return nil, fmt.Errorf("a part of the %s part has no name", what)
		}
		child, err := decodeValue(&sub.Arr[i], what+"."+name)
		if err != nil {
			return nil, err
		}
		v.Parts = append(v.Parts, NamedValue{Name: name, Value: child})
	}
	return v, nil
}

// valueKey finds the value[x] member of a parameter or part: "valueString", or "_valueString"
// for a primitive that has only extensions (then key is still "valueString").
func valueKey(v *fhir.Value) (key string, ok bool) {
	for _, m := range v.Obj {
		k := strings.TrimPrefix(m.Key, "_")
		if len(k) > len("value") && strings.HasPrefix(k, "value") && k[5] >= 'A' && k[5] <= 'Z' {
			return k, true
		}
	}
	return "", false
}

// primitivePart is the text of a part whose value must be one of the value[x] given.
func primitivePart(part *fhir.Value, name string, keys ...string) (string, error) {
	if part == nil {
		return "", fmt.Errorf("the %q part is missing", name)
	}
	for _, k := range keys {
		if v := part.Get(k); v != nil && v.Kind == fhir.String && v.Text != "" {
			return v.Text, nil
		}
	}
	return "", fmt.Errorf("the %q part needs a %s", name, strings.Join(keys, " or "))
}

// integerPart is a non-negative valueInteger (or valueUnsignedInt, valuePositiveInt).
func integerPart(part *fhir.Value, name string) (int, error) {
	for _, k := range []string{"valueInteger", "valueUnsignedInt", "valuePositiveInt"} {
		v := part.Get(k)
		if v == nil {
			continue
		}
		n, err := strconv.Atoi(v.Text)
		if v.Kind != fhir.Number || err != nil {
			return 0, fmt.Errorf("the %q part is not an integer", name)
		}
		if n < 0 {
			return 0, fmt.Errorf("the %q part is negative", name)
		}
		return n, nil
	}
	return 0, fmt.Errorf("the %q part needs a valueInteger", name)
}

func stringMember(v *fhir.Value, name string) string {
	if m := v.Get(name); m != nil && m.Kind == fhir.String {
		return m.Text
	}
	return ""
}
