package fhirpatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/internal/jsonpatch"
)

// ErrTooLarge is the cause of the *ApplyError of a patch whose result would be larger than
// the limit given to Apply.
var ErrTooLarge = errors.New("fhirpatch: result too large")

// ErrTooCostly is the cause of the *ApplyError of a patch whose operations would walk more than
// workFactor times the limit given to Apply: each evaluates its path over the whole resource.
// A thousand deletes of nothing on a 7 MB resource ran for over six minutes of both cores.
var ErrTooCostly = errors.New("fhirpatch: too costly")

// workFactor bounds a limited patch's work: the resource bytes its operations' paths walk, at
// most workFactor times the limit on the result (16 MiB with the default body limit: on a
// 7 MB resource of 100,000 codings, where() took over a second an operation).
const workFactor = 2

// ApplyError reports an operation that could not be applied to the resource. Its message
// names the operation and its path, never the values involved.
type ApplyError struct {
	Index int    // the operation's position in the patch; -1 for the patch as a whole
	Type  string // its type
	Path  string // its path
	Msg   string
	Err   error // ErrTooLarge, or nil
}

func (e *ApplyError) Error() string {
	if e.Index < 0 {
		return "FHIRPath Patch: " + e.Msg
	}
	return fmt.Sprintf("FHIRPath Patch operation %d (%s %s): %s", e.Index, e.Type, e.Path, e.Msg)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Apply applies the patch to a copy of doc, a resource, and returns the result; doc is left
// unchanged. Operations apply in order and the patch fails as a whole at the first that fails.
// The result may be at most limit bytes of JSON (about; 0: no limit). A patch has no copy
// operation, so a result is at most the resource and the patch together: it is checked once.
func (p Patch) Apply(ctx context.Context, doc fhir.Value, limit int) (fhir.Value, error) {
	out := jsonpatch.Clone(doc)
	if out.Kind != fhir.Object {
		return fhir.Value{}, &ApplyError{Index: -1, Msg: "the document is not a resource"}
	}
	// Each operation walks about the whole resource: refuse before any work when they would
	// together walk too much, and check again as the resource changes.
	if limit > 0 && len(p)*jsonpatch.Size(out) > workFactor*limit {
		return fhir.Value{}, &ApplyError{Index: -1, Err: ErrTooCostly,
			Msg: fmt.Sprintf("%d operations on a resource of this size would walk more than %d bytes of it", len(p), workFactor*limit)}
	}
	work := 0
	for i := range p {
		op := &p[i]
		if err := ctx.Err(); err != nil {
			return fhir.Value{}, err // the client left: no one waits for the rest
		}
		if limit > 0 {
			if work += jsonpatch.Size(out); work > workFactor*limit {
				return fhir.Value{}, &ApplyError{Index: i, Type: op.Type, Path: op.Path.String(),
					Msg: fmt.Sprintf("the operations would walk more than %d bytes of the resource", workFactor*limit), Err: ErrTooCostly}
			}
		}
		if err := op.apply(&out); err != nil {
			return fhir.Value{}, &ApplyError{Index: i, Type: op.Type, Path: op.Path.String(), Msg: err.Error()}
		}
	}
	if limit > 0 && jsonpatch.Size(out) > limit {
		return fhir.Value{}, &ApplyError{Index: -1, Msg: fmt.Sprintf("the result would be larger than %d bytes", limit), Err: ErrTooLarge}
	}
	return out, nil
}

func (op *Operation) apply(root *fhir.Value) error {
	nodes, err := op.Path.eval(root)
	if err != nil {
		return err
	}
	switch op.Type {
	case "add":
		return add(nodes, op.Name, op.Value)
	case "insert":
		return insert(nodes, op.Value, op.Index)
	case "delete":
		return del(nodes)
	case "replace":
		return replace(nodes, op.Value)
	case "move":
		return move(nodes, op.Source, op.Destination)
	}
	return fmt.Errorf("unknown operation type %q", op.Type)
}

// node is one element a path found: where it is in the tree, its definition and its value.
type node struct {
	parent *fhir.Value       // the object holding it; nil for the resource itself
	key    string            // its JSON member name in parent
	index  int               // its position in that member's array; -1 when it is not in one
	el     *fhir.Element     // its definition; nil for the resource itself
	et     *fhir.ElementType // its type (for a choice element, the one its JSON name selects)
	val    *fhir.Value       // its JSON value; nil for a primitive that has only extensions
	up     *node             // the node of parent; nil for the resource itself
}

// scope is what the children of an element are defined by: a type, or a backbone element.
type scope interface {
	Member(jsonName string) (*fhir.Element, *fhir.ElementType)
	Elements() []fhir.Element
}

func scopeName(sc scope) string {
	switch s := sc.(type) {
	case *fhir.TypeDef:
		return s.Name
	case *fhir.Element:
		return s.Path
	}
	return "?"
}

// scopeOf is the definition of a node's children; nil for a primitive. A resource (the one
// patched, or a contained one) is defined by its resourceType.
func scopeOf(n node) (scope, string) {
	resource := func() (scope, string) {
		if rt := n.val.Get("resourceType"); rt != nil && rt.Kind == fhir.String {
			if def := fhir.LookupType(rt.Text); def != nil && def.Kind == fhir.ResourceKind && !def.Abstract {
				return def, def.Name
			}
		}
		return nil, "a resource without a known resourceType"
	}
	if n.el == nil {
		return resource()
	}
	if len(n.el.Elements()) > 0 {
		return n.el, n.el.Path
	}
	if n.et != nil && n.et.Def != nil {
		switch n.et.Def.Kind {
		case fhir.ComplexKind:
			return n.et.Def, n.el.Path
		case fhir.ResourceKind:
			if n.val != nil {
				return resource()
			}
		}
	}
	return nil, n.el.Path
}

// lookupElement finds the child element a name stands for in sc: an element name, the name
// of a choice element without [x] ("value"), or a JSON name ("valueQuantity", which fixes the
// type as well).
func lookupElement(sc scope, name string) (*fhir.Element, *fhir.ElementType) {
	if name == "" || strings.HasPrefix(name, "_") {
		return nil, nil
	}
	if el, et := sc.Member(name); el != nil {
		return el, et
	}
	els := sc.Elements()
	for i := range els {
		if els[i].Name == name+"[x]" {
			return &els[i], nil
		}
	}
	return nil, nil
}

// jsonNames are the JSON member names an element may take, with their types: one, or one per
// type of a choice element; fixed narrows them to one type.
func jsonNames(el *fhir.Element, fixed *fhir.ElementType) []*fhir.ElementType {
	if fixed != nil {
		return []*fhir.ElementType{fixed}
	}
	if len(el.Types) == 0 { // a contentReference element: named as defined
		return []*fhir.ElementType{{Code: "BackboneElement", JSONName: el.Name}}
	}
	out := make([]*fhir.ElementType, len(el.Types))
	for i := range el.Types {
		out[i] = &el.Types[i]
	}
	return out
}

// eval finds the elements the path designates in the resource root.
func (p *Path) eval(root *fhir.Value) ([]node, error) {
	rt := root.Get("resourceType")
	if rt == nil || rt.Kind != fhir.String {
		return nil, errors.New("the document has no resourceType")
	}
	if p.typeName != "" && p.typeName != rt.Text {
		return nil, fmt.Errorf("the path is for a %s, the resource is a %s", p.typeName, rt.Text)
	}
	cur := []node{{index: -1, val: root}}
	for _, s := range p.steps {
		switch s.kind {
		case stepName:
			var next []node
			for _, n := range cur {
				kids, err := children(n, s.name)
				if err != nil {
					return nil, err
				}
				next = append(next, kids...)
			}
			cur = next
		case stepIndex:
			if s.n < len(cur) {
				cur = cur[s.n : s.n+1]
			} else {
				cur = nil
			}
		case stepFirst:
			cur = cur[:min(1, len(cur))]
		case stepLast:
			cur = cur[max(0, len(cur)-1):]
		case stepWhere:
			var kept []node
			for _, n := range cur {
				ok, err := s.holds(n)
				if err != nil {
					return nil, err
				}
				if ok {
					kept = append(kept, n)
				}
			}
			cur = kept
		}
	}
	return cur, nil
}

// holds evaluates a where(...) criterion on one item: each operand must be exactly one value
// equal to its literal.
func (s step) holds(n node) (bool, error) {
	for _, c := range s.cond {
		vals := []node{n}
		for _, name := range c.operand {
			var next []node
			for _, m := range vals {
				kids, err := children(m, name)
				if err != nil {
					return false, err
				}
				next = append(next, kids...)
			}
			vals = next
		}
		if len(vals) != 1 || !c.lit.equals(vals[0].val) {
			return false, nil
		}
	}
	return true, nil
}

// children are the elements named name in n, in order; an array gives one node per item.
func children(n node, name string) ([]node, error) {
	sc, what := scopeOf(n)
	if sc == nil {
		return nil, fmt.Errorf("%s is a primitive: a path cannot go into it", what)
	}
	el, fixed := lookupElement(sc, name)
	if el == nil {
		return nil, fmt.Errorf("%s has no element %q", what, name)
	}
	obj := n.val
	if obj == nil || obj.Kind != fhir.Object {
		return nil, nil
	}
	up := &n
	var out []node
	for _, et := range jsonNames(el, fixed) {
		key := et.JSONName
		v, ext := obj.Get(key), obj.Get("_"+key)
		if v != nil && v.Kind == fhir.Null {
			v = nil
		}
		if v == nil && ext == nil {
			continue
		}
		if v != nil && v.Kind == fhir.Array || ext != nil && ext.Kind == fhir.Array {
			for i := range listLen(obj, key) {
				var item *fhir.Value
				if v != nil && v.Kind == fhir.Array && i < len(v.Arr) && v.Arr[i].Kind != fhir.Null {
					item = &v.Arr[i]
				}
				out = append(out, node{parent: obj, key: key, index: i, el: el, et: et, val: item, up: up})
			}
			continue
		}
		out = append(out, node{parent: obj, key: key, index: -1, el: el, et: et, val: v, up: up})
	}
	return out, nil
}

// listLen is the length of the list member key of obj (with its _key companion); 0 when
// absent.
func listLen(obj *fhir.Value, key string) int {
	n := 0
	for _, k := range []string{key, "_" + key} {
		if v := obj.Get(k); v != nil && v.Kind == fhir.Array {
			n = max(n, len(v.Arr))
		}
	}
	return n
}

// one is the single node an operation needs.
func one(nodes []node) (node, error) {
	switch len(nodes) {
	case 0:
		return node{}, errors.New("no element matches the path")
	case 1:
		return nodes[0], nil
	}
	return node{}, fmt.Errorf("the path matches %d elements; it must match one", len(nodes))
}

// list checks that nodes are a whole list, every item of one repeating element of one parent
// in order (Patient.identifier), and returns its length.
func list(nodes []node) (int, error) {
	if len(nodes) == 0 {
		return 0, errors.New("no element matches the path: insert and move need an existing list (add creates one)")
	}
	n0 := nodes[0]
	whole := errors.New("the path must designate a whole list, every item of one repeating element (as Patient.identifier)")
	if n0.parent == nil || n0.index < 0 {
		return 0, whole
	}
	for i, n := range nodes {
		if n.parent != n0.parent || n.key != n0.key || n.index != i {
			return 0, whole
		}
	}
	if listLen(n0.parent, n0.key) != len(nodes) {
		return 0, whole
	}
	return len(nodes), nil
}

func add(nodes []node, name string, v *Value) error {
	n, err := one(nodes)
	if err != nil {
		return err
	}
	sc, what := scopeOf(n)
	if sc == nil || n.val == nil || n.val.Kind != fhir.Object {
		return fmt.Errorf("%s has no children to add to (replace changes a value)", what)
	}
	el, fixed := lookupElement(sc, name)
	if el == nil {
		return fmt.Errorf("%s has no element %q", what, name)
	}
	key, val, ext, err := materialize(v, el, fixed)
	if err != nil {
		return err
	}
	obj := n.val
	if el.Max != 1 {
		insertAt(obj, key, listLen(obj, key), val, ext)
		return nil
	}
	for _, et := range jsonNames(el, nil) {
		if obj.Get(et.JSONName) != nil || obj.Get("_"+et.JSONName) != nil {
			return fmt.Errorf("%s is there already: add creates a missing element only (replace changes it)", el.Path)
		}
	}
	setSingle(obj, "", key, val, ext)
	return nil
}

func insert(nodes []node, v *Value, index int) error {
	n, err := list(nodes)
	if err != nil {
		return err
	}
	if index > n {
		return fmt.Errorf("index %d is out of range: the list has %d items", index, n)
	}
	n0 := nodes[0]
	key, val, ext, err := materialize(v, n0.el, n0.et)
	if err != nil {
		return err
	}
	if key != n0.key {
		return fmt.Errorf("the value does not fit %s", n0.el.Path)
	}
	insertAt(n0.parent, key, index, val, ext)
	return nil
}

func del(nodes []node) error {
	if len(nodes) == 0 {
		return nil // delete removes the element if it is there
	}
	n, err := one(nodes)
	if err != nil {
		return err
	}
	if n.parent == nil {
		return errors.New("a patch cannot delete the resource itself")
	}
	remove(n)
	// An element left without content goes too (FHIR has no empty elements): deleting
	// Patient.contact[0].name.text removes a name that had only a text.
	for up := n.up; up != nil && up.parent != nil && up.val != nil && up.val.Kind == fhir.Object && len(up.val.Obj) == 0; up = up.up {
		remove(*up)
	}
	return nil
}

// remove takes a node out of its parent: the member, or the item of its list (and the item of
// the _key companion); a list left empty goes.
func remove(n node) {
	if n.index < 0 {
		n.parent.Delete(n.key)
		n.parent.Delete("_" + n.key)
		return
	}
	count := listLen(n.parent, n.key)
	drop := func(a []fhir.Value) []fhir.Value { return slices.Delete(a, n.index, n.index+1) }
	editArray(n.parent, n.key, count, false, drop)
	if n.parent.Get("_"+n.key) != nil {
		editArray(n.parent, "_"+n.key, count, true, drop)
	}
}

func replace(nodes []node, v *Value) error {
	n, err := one(nodes)
	if err != nil {
		return err
	}
	if n.parent == nil {
		return errors.New("a patch cannot replace the resource itself (PUT does)")
	}
	fixed := n.et
	if len(n.el.Types) > 1 {
		fixed = nil // a choice element may change its type: valueString for valueQuantity
	}
	key, val, ext, err := materialize(v, n.el, fixed)
	if err != nil {
		return err
	}
	if n.index < 0 {
		n.parent.Delete("_" + n.key)
		setSingle(n.parent, n.key, key, val, ext)
		return nil
	}
	count := listLen(n.parent, n.key)
	editArray(n.parent, key, count, false, func(a []fhir.Value) []fhir.Value { a[n.index] = val; return a })
	if ext != nil || n.parent.Get("_"+key) != nil {
		e := fhir.Value{Kind: fhir.Null}
		if ext != nil {
			e = *ext
		}
		editArray(n.parent, "_"+key, count, true, func(a []fhir.Value) []fhir.Value { a[n.index] = e; return a })
	}
	return nil
}

func move(nodes []node, source, destination int) error {
	n, err := list(nodes)
	if err != nil {
		return err
	}
	for _, x := range []struct {
		name string
		i    int
	}{{"source", source}, {"destination", destination}} {
		if x.i >= n {
			return fmt.Errorf("%s %d is out of range: the list has %d items", x.name, x.i, n)
		}
	}
	parent, key := nodes[0].parent, nodes[0].key
	mv := func(a []fhir.Value) []fhir.Value {
		v := a[source]
		return slices.Insert(slices.Delete(a, source, source+1), destination, v)
	}
	editArray(parent, key, n, false, mv)
	if parent.Get("_"+key) != nil {
		editArray(parent, "_"+key, n, true, mv)
	}
	return nil
}

// setSingle sets a non-repeating element: its value under key (in place of the member old,
// when there is one: a replaced choice element keeps its position) and its _key companion.
// A null value (a primitive that has only extensions) sets the companion only.
func setSingle(obj *fhir.Value, old, key string, val fhir.Value, ext *fhir.Value) {
	i := slices.IndexFunc(obj.Obj, func(m fhir.Member) bool { return old != "" && m.Key == old })
	switch {
	case val.Kind == fhir.Null:
		if i >= 0 {
			obj.Obj = slices.Delete(obj.Obj, i, i+1)
		}
	case i >= 0:
		obj.Obj[i] = fhir.Member{Key: key, Value: val}
	default:
		obj.Set(key, val)
	}
	if ext != nil {
		obj.Set("_"+key, *ext)
	}
}

// insertAt inserts an item (and its _key companion item) into the list key of obj at i,
// creating the list when there is none.
func insertAt(obj *fhir.Value, key string, i int, val fhir.Value, ext *fhir.Value) {
	count := listLen(obj, key)
	editArray(obj, key, count, false, func(a []fhir.Value) []fhir.Value { return slices.Insert(a, i, val) })
	if ext != nil || obj.Get("_"+key) != nil {
		e := fhir.Value{Kind: fhir.Null}
		if ext != nil {
			e = *ext
		}
		editArray(obj, "_"+key, count, true, func(a []fhir.Value) []fhir.Value { return slices.Insert(a, i, e) })
	}
}

// editArray edits the array member key of obj, first padded with nulls to count items (a
// primitive list and its _key companion have the same length). The member is removed when the
// result is empty, or, for a companion (companion), when it holds only nulls.
func editArray(obj *fhir.Value, key string, count int, companion bool, edit func([]fhir.Value) []fhir.Value) {
	var a []fhir.Value
	if cur := obj.Get(key); cur != nil && cur.Kind == fhir.Array {
		a = cur.Arr
	}
	for len(a) < count {
		a = append(a, fhir.Value{Kind: fhir.Null})
	}
	a = edit(a)
	empty := len(a) == 0
	if companion {
		empty = !slices.ContainsFunc(a, func(v fhir.Value) bool { return v.Kind != fhir.Null })
	}
	if empty {
		obj.Delete(key)
		return
	}
	obj.Set(key, fhir.Value{Kind: fhir.Array, Arr: a})
}

// materialize turns an operation's value into the JSON of element el: the member name it takes
// (for a choice element, the one of its type), its value, and the _name companion of a
// primitive. A typed value must be of a type of el (fixed, when given, narrows them to one);
// any primitive fits a primitive element, whose value the validation of the result then checks.
// Parts make an element without a type of its own (a backbone element) or of a complex type.
func materialize(v *Value, el *fhir.Element, fixed *fhir.ElementType) (key string, val fhir.Value, ext *fhir.Value, err error) {
	cands := jsonNames(el, fixed)
	if v.Parts != nil {
		var sc scope
		switch {
		case len(el.Elements()) > 0:
			sc = el
		case len(cands) == 1 && cands[0].Def != nil && cands[0].Def.Kind == fhir.ComplexKind:
			sc = cands[0].Def
		default:
			return "", val, nil, fmt.Errorf("%s takes a value[x], not parts", el.Path)
		}
		obj, err := build(v.Parts, sc)
		return cands[0].JSONName, obj, nil, err
	}
	var et *fhir.ElementType
	for _, c := range cands {
		if c.Code == v.Type {
			et = c
			break
		}
	}
	if et == nil && len(cands) == 1 && fits(v.Type, cands[0]) {
		et = cands[0]
	}
	if et == nil {
		var codes []string
		for _, c := range cands {
			codes = append(codes, c.Code)
		}
		return "", val, nil, fmt.Errorf("a %s value does not fit %s (%s)", v.Type, el.Path, strings.Join(codes, ", "))
	}
	val = jsonpatch.Clone(v.JSON)
	if v.Ext != nil {
		e := jsonpatch.Clone(*v.Ext)
		ext = &e
	}
	return et.JSONName, val, ext, nil
}

// fits reports whether a value of type typ may stand for an element of type et although the
// types differ: a primitive for a primitive (the result's validation checks its form), a
// resource for an element that holds any resource (contained).
func fits(typ string, et *fhir.ElementType) bool {
	def := fhir.LookupType(typ)
	if def == nil || et.Def == nil {
		return false
	}
	switch {
	case def.Kind == fhir.PrimitiveKind && et.Def.Kind == fhir.PrimitiveKind:
		return true
	case def.Kind == fhir.ResourceKind && et.Def.Kind == fhir.ResourceKind:
		return et.Def.Abstract
	}
	return false
}

// build makes the JSON object of an anonymous value from its parts, in their order: a
// repeating element given several times becomes a list.
func build(parts []NamedValue, sc scope) (fhir.Value, error) {
	obj := fhir.Value{Kind: fhir.Object}
	for _, p := range parts {
		el, fixed := lookupElement(sc, p.Name)
		if el == nil {
			return obj, fmt.Errorf("%s has no element %q", scopeName(sc), p.Name)
		}
		key, val, ext, err := materialize(p.Value, el, fixed)
		if err != nil {
			return obj, err
		}
		if el.Max != 1 {
			insertAt(&obj, key, listLen(&obj, key), val, ext)
			continue
		}
		if obj.Get(key) != nil || obj.Get("_"+key) != nil {
			return obj, fmt.Errorf("%s is given twice", el.Path)
		}
		setSingle(&obj, "", key, val, ext)
	}
	return obj, nil
}
