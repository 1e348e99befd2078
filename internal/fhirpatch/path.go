package fhirpatch

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/portico-health/portico/fhir"
)

// maxPathLen bounds the text of one path.
const maxPathLen = 1024

// Path is a compiled patch path (see the package documentation for the subset).
type Path struct {
	src      string
	typeName string // the leading resource type name, "" when the path starts with an element
	steps    []step
}

// String is the path as written.
func (p *Path) String() string { return p.src }

type stepKind uint8

const (
	stepName  stepKind = iota // .name: the children of that name
	stepIndex                 // [n]
	stepFirst                 // .first()
	stepLast                  // .last()
	stepWhere                 // .where(criterion)
)

type step struct {
	kind stepKind
	name string       // stepName
	n    int          // stepIndex
	cond []comparison // stepWhere: every comparison holds
}

// comparison is "operand = literal": operand is $this (no names) or element names from the
// item.
type comparison struct {
	operand []string
	lit     literal
}

type literal struct {
	kind fhir.Kind // String, Number or Bool
	text string    // String: the unescaped text; Bool: "true" or "false"
	num  float64   // Number
}

// unsupported is the error of a path that uses FHIRPath this package does not evaluate (as
// opposed to one that is not FHIRPath at all).
type unsupported string

func (u unsupported) Error() string { return string(u) }

func unsupportedf(format string, args ...any) error { return unsupported(fmt.Sprintf(format, args...)) }

// ParsePath compiles a patch path.
func ParsePath(src string) (*Path, error) {
	if len(src) > maxPathLen {
		return nil, fmt.Errorf("the path is longer than %d bytes", maxPathLen)
	}
	toks, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", src, err)
	}
	p := &pathParser{toks: toks}
	path, err := p.path()
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", src, err)
	}
	path.src = src
	return path, nil
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokThis // $this
	tokString
	tokNumber
	tokPunct // . [ ] ( ) =
)

type token struct {
	kind tokKind
	text string // the identifier, the unescaped string, the number literal, the punctuation
	off  int
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && (isIdentStart(s[j]) || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, token{tokIdent, s[i:j], i})
			i = j
		case c == '`': // a delimited identifier
			j := strings.IndexByte(s[i+1:], '`')
			if j < 0 {
				return nil, fmt.Errorf("unterminated `identifier` at offset %d", i)
			}
			toks = append(toks, token{tokIdent, s[i+1 : i+1+j], i})
			i += j + 2
		case c == '$':
			if !strings.HasPrefix(s[i:], "$this") || i+5 < len(s) && (isIdentStart(s[i+5]) || s[i+5] >= '0' && s[i+5] <= '9') {
				return nil, unsupportedf("only $this is supported (offset %d)", i)
			}
			toks = append(toks, token{tokThis, "$this", i})
			i += 5
		case c == '\'':
			text, n, err := lexString(s[i:])
			if err != nil {
				return nil, fmt.Errorf("%v at offset %d", err, i)
			}
			toks = append(toks, token{tokString, text, i})
			i += n
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			toks = append(toks, token{tokNumber, s[i:j], i})
			i = j
		case strings.IndexByte(".[]()=", c) >= 0:
			toks = append(toks, token{tokPunct, string(c), i})
			i++
		case c == '!' || c == '<' || c == '>':
			return nil, unsupportedf("only = is supported in where(...) (offset %d)", i)
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, unsupportedf("%q at offset %d is not supported in a patch path (only names, [n], first(), last() and where(a = 'b'))", r, i)
		}
	}
	return append(toks, token{kind: tokEOF, off: len(s)}), nil
}

func isIdentStart(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' }

// lexString reads a FHIRPath string literal at the start of s; n is its length in s.
func lexString(s string) (text string, n int, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 == len(s) {
				return "", 0, fmt.Errorf("unterminated string")
			}
			i++
			switch e := s[i]; e {
			case '\'', '"', '`', '\\', '/':
				b.WriteByte(e)
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if i+4 >= len(s) {
					return "", 0, fmt.Errorf("bad \\u escape")
				}
				r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
				if err != nil {
					return "", 0, fmt.Errorf("bad \\u escape")
				}
				b.WriteRune(rune(r))
				i += 4
			default:
				return "", 0, fmt.Errorf("bad escape \\%c", e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

type pathParser struct {
	toks []token
	pos  int
}

func (p *pathParser) peek() token { return p.toks[p.pos] }

func (p *pathParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *pathParser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tokPunct && t.text == s
}

func (p *pathParser) expect(s string) error {
	if t := p.next(); t.kind != tokPunct || t.text != s {
		return p.unexpected(t, "expected "+s)
	}
	return nil
}

func (p *pathParser) unexpected(t token, why string) error {
	if t.kind == tokEOF {
		return fmt.Errorf("%s, found the end", why)
	}
	return fmt.Errorf("%s, found %q at offset %d", why, t.text, t.off)
}

// path := (TypeName | name) ( '[' n ']' | '.' name | '.' fn '(' ... ')' )*
func (p *pathParser) path() (*Path, error) {
	path := &Path{}
	t := p.next()
	if t.kind != tokIdent {
		return nil, p.unexpected(t, "a path starts with a resource type or an element name")
	}
	if p.isPunct("(") {
		return nil, unsupportedf("a path starts with a resource type or an element name, not the function %s()", t.text)
	}
	if fhir.IsResourceType(t.text) {
		path.typeName = t.text
	} else {
		path.steps = append(path.steps, step{kind: stepName, name: t.text})
	}
	for {
		switch {
		case p.isPunct("["):
			p.next()
			n := p.next()
			if n.kind != tokNumber {
				return nil, p.unexpected(n, "an index is a non-negative integer")
			}
			i, err := strconv.Atoi(n.text)
			if err != nil || i < 0 {
				return nil, fmt.Errorf("index %q is not a non-negative integer", n.text)
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			path.steps = append(path.steps, step{kind: stepIndex, n: i})
		case p.isPunct("."):
			p.next()
			name := p.next()
			if name.kind != tokIdent {
				return nil, p.unexpected(name, "expected an element name or a function after '.'")
			}
			if !p.isPunct("(") {
				path.steps = append(path.steps, step{kind: stepName, name: name.text})
				continue
			}
			p.next()
			s, err := p.function(name.text)
			if err != nil {
				return nil, err
			}
			path.steps = append(path.steps, s)
		default:
			if t := p.peek(); t.kind != tokEOF {
				return nil, p.unexpected(t, "expected '.', '[' or the end of the path")
			}
			return path, nil
		}
	}
}

// function parses a call after its '(': where(criterion), first(), last().
func (p *pathParser) function(name string) (step, error) {
	switch name {
	case "first", "last":
		if err := p.expect(")"); err != nil {
			return step{}, fmt.Errorf("%s() takes no arguments: %w", name, err)
		}
		if name == "first" {
			return step{kind: stepFirst}, nil
		}
		return step{kind: stepLast}, nil
	case "where":
		s := step{kind: stepWhere}
		for {
			c, err := p.comparison()
			if err != nil {
				return step{}, err
			}
			s.cond = append(s.cond, c)
			if t := p.peek(); t.kind == tokIdent && t.text == "and" {
				p.next()
				continue
			}
			if err := p.expect(")"); err != nil {
				return step{}, unsupportedf("where(...) takes comparisons a = 'b' joined by and: %v", err)
			}
			return s, nil
		}
	}
	return step{}, unsupportedf("the function %s() is not supported in a patch path (only where, first and last)", name)
}

// comparison := operand '=' literal | literal '=' operand
func (p *pathParser) comparison() (comparison, error) {
	var c comparison
	if lit, ok, err := p.literal(); err != nil {
		return c, err
	} else if ok {
		c.lit = lit
		if err := p.expect("="); err != nil {
			return c, unsupportedf("where(...) supports only '=': %v", err)
		}
		if c.operand, err = p.operand(); err != nil {
			return c, err
		}
		return c, nil
	}
	operand, err := p.operand()
	if err != nil {
		return c, err
	}
	c.operand = operand
	if err := p.expect("="); err != nil {
		return c, unsupportedf("where(...) supports only '=': %v", err)
	}
	lit, ok, err := p.literal()
	if err != nil {
		return c, err
	}
	if !ok {
		return c, p.unexpected(p.peek(), "where(...) compares with a string, number or boolean literal")
	}
	c.lit = lit
	return c, nil
}

// operand := '$this' | name ('.' name)*
func (p *pathParser) operand() ([]string, error) {
	t := p.next()
	if t.kind == tokThis {
		return nil, nil
	}
	if t.kind != tokIdent || t.text == "and" {
		return nil, p.unexpected(t, "where(...) compares $this or element names")
	}
	names := []string{t.text}
	for p.isPunct(".") {
		p.next()
		n := p.next()
		if n.kind != tokIdent {
			return nil, p.unexpected(n, "expected an element name")
		}
		if p.isPunct("(") {
			return nil, unsupportedf("functions are not supported inside where(...): %s()", n.text)
		}
		names = append(names, n.text)
	}
	if p.isPunct("(") || p.isPunct("[") {
		return nil, unsupported("only element names are supported inside where(...)")
	}
	return names, nil
}

// literal reads a string, number or boolean literal; ok is false when the next token is none.
func (p *pathParser) literal() (literal, bool, error) {
	t := p.peek()
	switch {
	case t.kind == tokString:
		p.next()
		return literal{kind: fhir.String, text: t.text}, true, nil
	case t.kind == tokNumber:
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return literal{}, false, fmt.Errorf("%q is not a number", t.text)
		}
		return literal{kind: fhir.Number, text: t.text, num: f}, true, nil
	case t.kind == tokIdent && (t.text == "true" || t.text == "false"):
		p.next()
		return literal{kind: fhir.Bool, text: t.text}, true, nil
	}
	return literal{}, false, nil
}

// equals reports whether a JSON primitive equals the literal, as FHIRPath's = does for the
// types a patch path compares: strings exactly, numbers by value, booleans.
func (l literal) equals(v *fhir.Value) bool {
	if v == nil || v.Kind != l.kind {
		return false
	}
	if l.kind == fhir.Number {
		f, err := strconv.ParseFloat(v.Text, 64)
		return err == nil && f == l.num
	}
	return v.Text == l.text
}
