package fhir

import (
	"fmt"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the JSON type of a Value.
type Kind uint8

const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

func (k Kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// Value is a JSON value that keeps what encoding/json loses: the order of object members and
// the literal text of numbers, so that a decimal written as 1.50 is stored and served as 1.50.
type Value struct {
	Kind Kind
	Text string   // String: the unescaped string; Number: the literal; Bool: "true" or "false"
	Arr  []Value  // Array elements
	Obj  []Member // Object members, in document order
}

// Member is one name/value pair of a JSON object.
type Member struct {
	Key   string
	Value Value
}

// Get returns the member named key of an object, or nil; on a nil value it returns nil, so
// that paths chain (v.Get("a").Get("b")).
func (v *Value) Get(key string) *Value {
	if v == nil {
		return nil
	}
	for i := range v.Obj {
		if v.Obj[i].Key == key {
			return &v.Obj[i].Value
		}
	}
	return nil
}

// Set replaces the member named key, or appends it when absent.
func (v *Value) Set(key string, val Value) {
	if m := v.Get(key); m != nil {
		*m = val
		return
	}
	v.Obj = append(v.Obj, Member{Key: key, Value: val})
}

// Delete removes the member named key, if present.
func (v *Value) Delete(key string) {
	for i := range v.Obj {
		if v.Obj[i].Key == key {
			v.Obj = append(v.Obj[:i], v.Obj[i+1:]...)
			return
		}
	}
}

// Str makes a JSON string value.
func Str(s string) Value { return Value{Kind: String, Text: s} }

// SyntaxError reports malformed JSON at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 200

// ParseJSON decodes one JSON document strictly: no trailing data, no duplicate object keys,
// valid UTF-8 only, nesting at most maxDepth.
func ParseJSON(data []byte) (Value, error) {
	// One copy of the input backs every string and number that needs no unescaping, so a
	// document costs one allocation per object and array plus one for the text, instead of
	// one per string. The tree keeps the copy alive, which is the size of the input.
	p := parsers.Get().(*parser)
	defer p.release()
	p.data, p.text, p.pos = data, string(data), 0
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return Value{}, p.errorf("unexpected data after the top-level value")
	}
	return v, nil
}

// parsers recycles the scratch stacks of parsers.
var parsers = sync.Pool{New: func() any { return new(parser) }}

// release returns p to the pool without keeping the document alive through it.
func (p *parser) release() {
	clear(p.members[:cap(p.members)])
	clear(p.values[:cap(p.values)])
	p.members, p.values = p.members[:0], p.values[:0]
	p.data, p.text = nil, ""
	parsers.Put(p)
}

type parser struct {
	data []byte
	text string // data as a string, sliced for string and number values
	pos  int
	// members and values are scratch stacks: an object's members (an array's values) collect
	// here and are copied once into a slice of the exact size when it closes.
	members []Member
	values  []Value
}

// dupScanLimit is the member count up to which duplicate keys are found by scanning the
// members so far; larger objects use a set, so that hostile input cannot make parsing
// quadratic.
const dupScanLimit = 16

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, p.errorf("nesting deeper than %d", maxDepth)
	}
	if p.pos >= len(p.data) {
		return Value{}, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.string()
		return Value{Kind: String, Text: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		for _, lit := range [...]struct {
			text string
			v    Value
		}{{"true", Value{Kind: Bool, Text: "true"}}, {"false", Value{Kind: Bool, Text: "false"}}, {"null", Value{Kind: Null}}} {
			if len(p.data)-p.pos >= len(lit.text) && string(p.data[p.pos:p.pos+len(lit.text)]) == lit.text {
				p.pos += len(lit.text)
				return lit.v, nil
			}
		}
		return Value{}, p.errorf("unexpected character %q", c)
	}
}

func (p *parser) object(depth int) (Value, error) {
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return Value{Kind: Object, Obj: []Member{}}, nil
	}
	base := len(p.members)
	defer func() { p.members = p.members[:base] }()
	var seen map[string]bool
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return Value{}, p.errorf("expected a member name")
		}
		keyAt := p.pos
		key, err := p.string()
		if err != nil {
			return Value{}, err
		}
		if p.duplicate(base, key, &seen) {
			return Value{}, &SyntaxError{Offset: keyAt, Msg: fmt.Sprintf("duplicate member %q", key)}
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return Value{}, p.errorf("expected ':' after member name")
		}
		p.pos++
		p.skipSpace()
		m, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		p.members = append(p.members, Member{Key: key, Value: m})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return Value{}, p.errorf("unexpected end of input in object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return Value{Kind: Object, Obj: append([]Member(nil), p.members[base:]...)}, nil
		default:
			return Value{}, p.errorf("expected ',' or '}' in object")
		}
	}
}

// duplicate reports whether key is already a member of the object whose members start at base.
func (p *parser) duplicate(base int, key string, seen *map[string]bool) bool {
	members := p.members[base:]
	if len(members) < dupScanLimit {
		for i := range members {
			if members[i].Key == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]bool, 2*len(members))
		for i := range members {
			(*seen)[members[i].Key] = true
		}
	}
	if (*seen)[key] {
		return true
	}
	(*seen)[key] = true
	return false
}

func (p *parser) array(depth int) (Value, error) {
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return Value{Kind: Array, Arr: []Value{}}, nil
	}
	base := len(p.values)
	defer func() { p.values = p.values[:base] }()
	for {
		p.skipSpace()
		e, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		p.values = append(p.values, e)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return Value{}, p.errorf("unexpected end of input in array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return Value{Kind: Array, Arr: append([]Value(nil), p.values[base:]...)}, nil
		default:
			return Value{}, p.errorf("expected ',' or ']' in array")
		}
	}
}

func (p *parser) number() (Value, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	n := digits()
	if n == 0 {
		return Value{}, p.errorf("invalid number")
	}
	if n > 1 && p.data[intStart] == '0' {
		return Value{}, &SyntaxError{Offset: intStart, Msg: "number with a leading zero"}
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return Value{}, p.errorf("invalid number: no digits after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return Value{}, p.errorf("invalid number: no digits in exponent")
		}
	}
	return Value{Kind: Number, Text: p.text[start:p.pos]}, nil
}

// string reads a JSON string starting at the opening quote.
func (p *parser) string() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			p.pos++
			if !utf8.Valid(s) {
				return "", &SyntaxError{Offset: start, Msg: "string is not valid UTF-8"}
			}
			return p.text[start : p.pos-1], nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.errorf("control character in string")
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if !utf8.Valid(buf) {
				return "", &SyntaxError{Offset: start, Msg: "string is not valid UTF-8"}
			}
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		p.pos++ // backslash
		if p.pos >= len(p.data) {
			break
		}
		e := p.data[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					p.pos += 2
					if r2, err = p.hex4(); err != nil {
						return "", err
					}
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", p.errorf("invalid surrogate pair")
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.errorf("invalid escape '\\%c'", e)
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *parser) hex4() (rune, error) {
	if len(p.data)-p.pos < 4 {
		return 0, p.errorf("short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, p.errorf("invalid \\u escape")
	}
	p.pos += 4
	return rune(n), nil
}
