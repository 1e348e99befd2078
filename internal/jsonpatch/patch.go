package jsonpatch

import (
	"errors"
	"fmt"

	"github.com/portico-health/portico/fhir"
)

// ErrTestFailed is the cause of the *ApplyError of a "test" operation whose value differed.
var ErrTestFailed = errors.New("jsonpatch: test failed")

// ErrTooLarge: applying the patch would make the document larger than the limit given to
// ApplyLimited (a "copy" doubles what it copies: sixteen of them make a small resource huge).
var ErrTooLarge = errors.New("jsonpatch: result too large")

// ErrTooCostly: the patch's operations would read or copy more than workFactor times the limit
// given to ApplyLimited (a thousand "test" operations on the root of a 4 MB resource took
// seconds).
var ErrTooCostly = errors.New("jsonpatch: too costly")

// workFactor bounds a limited patch's work: the bytes its operations compare, copy or measure,
// at most workFactor times the limit on the result.
const workFactor = 4

// MaxOperations is the most operations a patch document may hold.
const MaxOperations = 1000

// DocumentError reports a patch document that is not a valid RFC 6902 document.
// Its message names operations by index and paths, never values (they may hold PHI).
type DocumentError struct {
	Index int // the operation concerned, -1 for the document as a whole
	Msg   string
}

func (e *DocumentError) Error() string {
	if e.Index < 0 {
		return "invalid JSON Patch document: " + e.Msg
	}
	return fmt.Sprintf("invalid JSON Patch operation %d: %s", e.Index, e.Msg)
}

// ApplyError reports an operation that could not be applied to the document.
type ApplyError struct {
	Index int    // the operation's position in the patch
	Op    string // its "op"
	Path  string // its "path"
	Msg   string
	Err   error // ErrTestFailed for a failed test, else nil
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("JSON Patch operation %d (%s %s): %s", e.Index, e.Op, e.Path, e.Msg)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Operation is one operation of a patch document.
type Operation struct {
	Op    string // add, remove, replace, move, copy or test
	Path  Pointer
	From  Pointer    // move and copy
	Value fhir.Value // add, replace and test
}

// Patch is a decoded JSON Patch document.
type Patch []Operation

// Decode parses a JSON Patch document: an array of operation objects. Members an operation
// does not define are ignored, as RFC 6902 section 4 requires.
func Decode(data []byte) (Patch, error) {
	root, err := fhir.ParseJSON(data)
	if err != nil {
		return nil, &DocumentError{Index: -1, Msg: err.Error()}
	}
	if root.Kind != fhir.Array {
		return nil, &DocumentError{Index: -1, Msg: "a JSON Patch document must be an array"}
	}
	if len(root.Arr) > MaxOperations {
		return nil, &DocumentError{Index: -1, Msg: fmt.Sprintf("a JSON Patch document may hold at most %d operations", MaxOperations)}
	}
	p := make(Patch, 0, len(root.Arr))
	for i := range root.Arr {
		op, err := decodeOp(&root.Arr[i])
		if err != nil {
			var de *DocumentError
			if errors.As(err, &de) {
				de.Index = i
			}
			return nil, err
		}
		p = append(p, op)
	}
	return p, nil
}

func decodeOp(v *fhir.Value) (Operation, error) {
	if v.Kind != fhir.Object {
		return Operation{}, &DocumentError{Msg: "an operation must be an object"}
	}
	str := func(name string) (string, bool, error) {
		m := v.Get(name)
		if m == nil {
			return "", false, nil
		}
		if m.Kind != fhir.String {
			return "", true, &DocumentError{Msg: fmt.Sprintf("%q must be a string", name)}
		}
		return m.Text, true, nil
	}
	var op Operation
	name, ok, err := str("op")
	if err != nil {
		return op, err
	}
	if !ok {
		return op, &DocumentError{Msg: `missing "op"`}
	}
	switch name {
	case "add", "remove", "replace", "move", "copy", "test":
	default:
		return op, &DocumentError{Msg: fmt.Sprintf("unknown op %q", name)}
	}
	op.Op = name
	path, ok, err := str("path")
	if err != nil {
		return op, err
	}
	if !ok {
		return op, &DocumentError{Msg: `missing "path"`}
	}
	if op.Path, err = ParsePointer(path); err != nil {
		return op, err
	}
	switch name {
	case "move", "copy":
		from, ok, err := str("from")
		if err != nil {
			return op, err
		}
		if !ok {
			return op, &DocumentError{Msg: fmt.Sprintf(`%s needs "from"`, name)}
		}
		if op.From, err = ParsePointer(from); err != nil {
			return op, err
		}
	case "add", "replace", "test":
		val := v.Get("value")
		if val == nil {
			return op, &DocumentError{Msg: fmt.Sprintf(`%s needs "value"`, name)}
		}
		op.Value = *val
	}
	return op, nil
}

// Apply applies the patch to a copy of doc and returns the result; doc is left unchanged.
// Operations apply in order and the patch fails as a whole at the first that fails.
func (p Patch) Apply(doc fhir.Value) (fhir.Value, error) { return p.ApplyLimited(doc, 0) }

// ApplyLimited is Apply with the result's size (about its JSON bytes) kept at most limit
// (0: no limit): an operation that would pass it fails with ErrTooLarge before it copies
// anything, so a patch never holds much more than limit in memory.
func (p Patch) ApplyLimited(doc fhir.Value, limit int) (fhir.Value, error) {
	out := Clone(doc)
	total := 0
	if limit > 0 {
		total = Size(out)
	}
	work := 0
	for i, op := range p {
		delta := 0
		if limit > 0 {
			sizeAt := func(ptr Pointer) int {
				if v, msg := resolve(&out, ptr); msg == "" {
					return Size(*v)
				}
				return 0
			}
			cost := 0 // bytes this operation reads or copies, besides its own value
			switch op.Op {
			case "add":
				delta = Size(op.Value) // an upper bound when it replaces a member
				cost = delta
			case "replace":
				old := sizeAt(op.Path)
				delta, cost = Size(op.Value)-old, Size(op.Value)+old
			case "copy":
				delta = sizeAt(op.From)
				cost = 2 * delta
			case "remove":
				delta = -sizeAt(op.Path)
				cost = -delta
			case "test":
				cost = Size(op.Value) // Equal stops within the smaller of the two
			}
			if work += cost; work > workFactor*limit {
				return fhir.Value{}, &ApplyError{Index: i, Op: op.Op, Path: op.Path.String(),
					Msg: fmt.Sprintf("the operations would compare or copy more than %d bytes", workFactor*limit), Err: ErrTooCostly}
			}
			if total+delta > limit {
				return fhir.Value{}, &ApplyError{Index: i, Op: op.Op, Path: op.Path.String(),
					Msg: fmt.Sprintf("the result would be larger than %d bytes", limit), Err: ErrTooLarge}
			}
		}
		if msg, err := apply(&out, op); msg != "" {
			return fhir.Value{}, &ApplyError{Index: i, Op: op.Op, Path: op.Path.String(), Msg: msg, Err: err}
		}
		total += delta
	}
	return out, nil
}

// Size is about the number of bytes of v encoded as JSON.
func Size(v fhir.Value) int {
	switch v.Kind {
	case fhir.Object:
		n := 2
		for _, m := range v.Obj {
			n += len(m.Key) + 4 + Size(m.Value)
		}
		return n
	case fhir.Array:
		n := 2
		for _, x := range v.Arr {
			n += 1 + Size(x)
		}
		return n
	}
	return len(v.Text) + 2
}

// apply performs one operation; a non-empty message means it failed.
func apply(doc *fhir.Value, op Operation) (string, error) {
	switch op.Op {
	case "add":
		return add(doc, op.Path, Clone(op.Value)), nil
	case "remove":
		_, msg := remove(doc, op.Path)
		return msg, nil
	case "replace":
		t, msg := resolve(doc, op.Path)
		if msg != "" {
			return msg, nil
		}
		*t = Clone(op.Value)
		return "", nil
	case "move":
		if op.From.isPrefixOf(op.Path) {
			return "cannot move a value into one of its own children", nil
		}
		v, msg := remove(doc, op.From)
		if msg != "" {
			return "from: " + msg, nil
		}
		return add(doc, op.Path, v), nil
	case "copy":
		v, msg := resolve(doc, op.From)
		if msg != "" {
			return "from: " + msg, nil
		}
		return add(doc, op.Path, Clone(*v)), nil
	case "test":
		v, msg := resolve(doc, op.Path)
		if msg != "" {
			return msg, nil
		}
		if !Equal(*v, op.Value) {
			return "the value differs", ErrTestFailed
		}
		return "", nil
	}
	return "unknown op", nil
}
