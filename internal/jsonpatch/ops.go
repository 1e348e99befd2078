package jsonpatch

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/portico-health/portico/fhir"
)

// resolve returns the value p points to, or a message saying why there is none.
func resolve(doc *fhir.Value, p Pointer) (*fhir.Value, string) {
	cur := doc
	for _, tok := range p {
		switch cur.Kind {
		case fhir.Object:
			next := cur.Get(tok)
			if next == nil {
				return nil, "path does not exist"
			}
			cur = next
		case fhir.Array:
			i, ok := arrayIndex(tok, len(cur.Arr))
			if !ok {
				return nil, "array index out of range or invalid"
			}
			cur = &cur.Arr[i]
		default:
			return nil, "path goes through a value that is neither an object nor an array"
		}
	}
	return cur, ""
}

// add implements the "add" operation (RFC 6902 section 4.1).
func add(doc *fhir.Value, p Pointer, v fhir.Value) string {
	if len(p) == 0 {
		*doc = v
		return ""
	}
	parent, msg := resolve(doc, p[:len(p)-1])
	if msg != "" {
		return msg
	}
	last := p[len(p)-1]
	switch parent.Kind {
	case fhir.Object:
		parent.Set(last, v)
	case fhir.Array:
		i := len(parent.Arr)
		if last != "-" {
			var ok bool
			if i, ok = arrayIndex(last, len(parent.Arr)+1); !ok {
				return "array index out of range or invalid"
			}
		}
		parent.Arr = append(parent.Arr, fhir.Value{})
		copy(parent.Arr[i+1:], parent.Arr[i:])
		parent.Arr[i] = v
	default:
		return "the parent is neither an object nor an array"
	}
	return ""
}

// remove implements the "remove" operation (RFC 6902 section 4.2) and returns what it removed.
func remove(doc *fhir.Value, p Pointer) (fhir.Value, string) {
	if len(p) == 0 {
		return fhir.Value{}, "cannot remove the whole document"
	}
	parent, msg := resolve(doc, p[:len(p)-1])
	if msg != "" {
		return fhir.Value{}, msg
	}
	last := p[len(p)-1]
	switch parent.Kind {
	case fhir.Object:
		v := parent.Get(last)
		if v == nil {
			return fhir.Value{}, "path does not exist"
		}
		old := *v
		parent.Delete(last)
		return old, ""
	case fhir.Array:
		i, ok := arrayIndex(last, len(parent.Arr))
		if !ok {
			return fhir.Value{}, "array index out of range or invalid"
		}
		old := parent.Arr[i]
		parent.Arr = append(parent.Arr[:i], parent.Arr[i+1:]...)
		return old, ""
	}
	return fhir.Value{}, "the parent is neither an object nor an array"
}

// Clone returns a deep copy of v that shares no slices with it.
func Clone(v fhir.Value) fhir.Value {
	switch v.Kind {
	case fhir.Array:
		arr := make([]fhir.Value, len(v.Arr))
		for i := range v.Arr {
			arr[i] = Clone(v.Arr[i])
		}
		v.Arr = arr
	case fhir.Object:
		obj := make([]fhir.Member, len(v.Obj))
		for i, m := range v.Obj {
			obj[i] = fhir.Member{Key: m.Key, Value: Clone(m.Value)}
		}
		v.Obj = obj
	}
	return v
}

// Equal is JSON equality as RFC 6902 section 4.6 defines it: numbers by numeric value
// (1.50 equals 1.5), objects regardless of member order, arrays element by element.
func Equal(a, b fhir.Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case fhir.Null:
		return true
	case fhir.Bool, fhir.String:
		return a.Text == b.Text
	case fhir.Number:
		if a.Text == b.Text {
			return true
		}
		return numberEqual(a.Text, b.Text)
	case fhir.Array:
		if len(a.Arr) != len(b.Arr) {
			return false
		}
		for i := range a.Arr {
			if !Equal(a.Arr[i], b.Arr[i]) {
				return false
			}
		}
		return true
	case fhir.Object:
		if len(a.Obj) != len(b.Obj) {
			return false
		}
		for _, m := range a.Obj {
			o := b.Get(m.Key)
			if o == nil || !Equal(m.Value, *o) {
				return false
			}
		}
		return true
	}
	return false
}

// maxExponent bounds the exponents compared numerically, so that a hostile "1e999999999"
// cannot make big.Rat allocate a huge power of ten.
const maxExponent = 400

func numberEqual(a, b string) bool {
	if exponentTooLarge(a) || exponentTooLarge(b) {
		return false
	}
	x, okx := new(big.Rat).SetString(a)
	y, oky := new(big.Rat).SetString(b)
	return okx && oky && x.Cmp(y) == 0
}

func exponentTooLarge(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return false
	}
	e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
	return err != nil || e > maxExponent || e < -maxExponent
}
