package fhir

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/portico-health/portico/store"
)

// This file is a small FHIRPath engine: the subset R4 search-parameter expressions use. It
// evaluates on the JSON tree (Value) and is type-aware through the generated definitions, so
// that choice elements (Observation.value), `as`/`ofType`/`is` and contained or resolved
// resources behave as FHIRPath says. Package fhir/fhirpath re-exports it; it lives here because
// the index extractor (ExtractIndex) needs it and fhir cannot import a package that imports fhir.
//
// Supported: paths (element names, choice names, a leading type name such as `Patient.name`),
// `|` (union), `and`, `or`, `=`, `!=`, `is`, `as`, `(...)`, indexers `[n]`, string, boolean and
// integer literals, `$this`, `%resource`, and the functions where, exists, empty, not, first,
// last, as, ofType, is, resolve, extension, hasValue. Anything else is a compile error.

// PathExpr is a compiled FHIRPath expression. It is safe for concurrent use.
type PathExpr struct {
	src  string
	base string // the type the expression was compiled for ("" for any)
	root *pexpr
	out  []stype // the static result types
	res  []stype // the static type of %resource
	// Types are the possible FHIR types of the results, inferred at compile time ("Reference",
	// "HumanName", "boolean", ...). "Resource" stands for a resource whose type is known only at
	// run time.
	Types []string
}

// String returns the expression as written.
func (e *PathExpr) String() string { return e.src }

// PathNode is one item of an evaluation result: a JSON value with its FHIR type.
type PathNode struct {
	Value *Value // the JSON value; nil for a resolved reference (only Type is known)
	Type  string // FHIR type name: "HumanName", "string", "Patient", "BackboneElement", "boolean"
	sc    *members
}

type popKind uint8

const (
	opThis     popKind = iota // the input collection
	opTypeName                // a leading type name: the input items of that type
	opMember                  // target.name
	opIndex                   // target[n]
	opFunc                    // target.fn(args)
	opUnion
	opAnd
	opOr
	opEq
	opNe
	opIs
	opAs
	opString
	opBool
	opInt
	opResource // %resource
)

type pexpr struct {
	op     popKind
	name   string // member, function or type name
	target *pexpr
	args   []*pexpr
	lit    *Value
	n      int
	cands  []scopeCands // opMember: the children per static input scope
}

type scopeCands struct {
	sc    *members
	cands []cand
}

// cand is one JSON member a path step may select, with the type it holds.
type cand struct {
	json string
	typ  string
	sc   *members // children of the value; nil for primitives and resources (dynamic)
	res  bool     // holds a resource: its type is its resourceType
}

var (
	trueValue  = Value{Kind: Bool, Text: "true"}
	falseValue = Value{Kind: Bool, Text: "false"}
)

func boolNode(b bool) PathNode {
	if b {
		return PathNode{Value: &trueValue, Type: "boolean"}
	}
	return PathNode{Value: &falseValue, Type: "boolean"}
}

// CompilePath parses expr and checks it against base (a type name, e.g. "Patient", or a
// backbone path such as "Observation.component"; "" for no checking). Element names that
// exist on none of the possible input types, unknown functions and unknown type names are
// errors.
func CompilePath(base, expr string) (*PathExpr, error) {
	var in []stype
	if base != "" {
		st, ok := baseStype(base)
		if !ok {
			return nil, fmt.Errorf("fhirpath %q: unknown base type %q", expr, base)
		}
		in = []stype{st}
	}
	e, err := compilePathIn(in, in, expr)
	if err != nil {
		return nil, err
	}
	e.base = base
	return e, nil
}

// compilePathIn compiles expr for inputs of the given static types (none: unchecked); res are
// the types of %resource.
func compilePathIn(in, res []stype, expr string) (*PathExpr, error) {
	toks, err := lexPath(expr)
	if err != nil {
		return nil, fmt.Errorf("fhirpath %q: %w", expr, err)
	}
	p := &pathParser{toks: toks}
	root, err := p.parseExpr(0)
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q at offset %d", p.toks[p.pos].text, p.toks[p.pos].off)
	}
	if err != nil {
		return nil, fmt.Errorf("fhirpath %q: %w", expr, err)
	}
	e := &PathExpr{src: expr}
	out, err := checkPath(root, in, res)
	if err != nil {
		names := make([]string, len(in))
		for i, t := range in {
			names[i] = t.name
		}
		return nil, fmt.Errorf("fhirpath %q on %s: %w", expr, strings.Join(names, ", "), err)
	}
	if len(in) == 1 {
		root = prune(root, in[0].name)
	}
	e.root, e.out, e.res = root, out, res
	for _, t := range out {
		if !containsStr(e.Types, t.name) {
			e.Types = append(e.Types, t.name)
		}
	}
	return e, nil
}

// Eval evaluates the expression on a resource (or any element) held in v, of FHIR type typ.
// root is the resource that contained references (#id) resolve in; it may be v itself.
func (e *PathExpr) Eval(root *Value, v *Value, typ string) []PathNode {
	st, _ := baseStype(typ)
	return e.EvalNodes(root, []PathNode{{Value: v, Type: st.name, sc: st.sc}})
}

// EvalNodes evaluates the expression with the given input collection. The result is the
// caller's.
func (e *PathExpr) EvalNodes(root *Value, in []PathNode) []PathNode {
	if e.root == nil {
		return nil
	}
	c := evalPool.Get().(*evalCtx)
	c.root = root
	out := slices.Clone(c.eval(e.root, in))
	c.release()
	return out
}

// evalScratch evaluates with a pooled context and returns the result in its arena: valid
// until c.release.
func (e *PathExpr) evalScratch(c *evalCtx, in []PathNode) []PathNode {
	if e.root == nil {
		return nil
	}
	return c.eval(e.root, in)
}

func (c *evalCtx) release() {
	if cap(c.buf) > 4096 {
		c.buf = make([]PathNode, 0, 256)
	}
	if cap(c.entries) > 1024 {
		c.entries = nil
	}
	// Not cleared: the stale pointers keep at most the last resource alive, and sync.Pool
	// drops idle contexts at the next garbage collections.
	c.buf = c.buf[:0]
	c.root = nil
	evalPool.Put(c)
}

// NodeOf makes the input node for a resource.
func NodeOf(v *Value) PathNode {
	rt := ""
	if t := v.Get("resourceType"); t != nil {
		rt = t.Text
	}
	st, _ := baseStype(rt)
	return PathNode{Value: v, Type: st.name, sc: st.sc}
}

// ---- lexer ----

type ptok struct {
	kind byte // 'i' identifier, 's' string, 'n' number, 'o' operator/punctuation, 'v' %var
	text string
	off  int
}

func lexPath(s string) ([]ptok, error) {
	var out []ptok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '\''; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
					switch s[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					default:
						b.WriteByte(s[j])
					}
					continue
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			out = append(out, ptok{'s', b.String(), i})
			i = j + 1
		case c == '`':
			j := strings.IndexByte(s[i+1:], '`')
			if j < 0 {
				return nil, fmt.Errorf("unterminated identifier at offset %d", i)
			}
			if j == 0 {
				return nil, fmt.Errorf("empty identifier at offset %d", i)
			}
			out = append(out, ptok{'i', s[i+1 : i+1+j], i})
			i += j + 2
		case isIdentStart(c) || c == '$' || c == '%':
			j := i + 1
			for j < len(s) && (isIdentStart(s[j]) || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			kind := byte('i')
			if c == '%' {
				kind = 'v'
			}
			out = append(out, ptok{kind, s[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, ptok{'n', s[i:j], i})
			i = j
		case c == '!' && i+1 < len(s) && s[i+1] == '=':
			out = append(out, ptok{'o', "!=", i})
			i += 2
		case strings.IndexByte(".|()[],=", c) >= 0:
			out = append(out, ptok{'o', s[i : i+1], i})
			i++
		default:
			return nil, fmt.Errorf("unsupported character %q at offset %d", c, i)
		}
	}
	return out, nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// ---- parser ----

type pathParser struct {
	toks []ptok
	pos  int
}

func (p *pathParser) peek() ptok {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ptok{}
}

func (p *pathParser) isOp(text string) bool {
	t := p.peek()
	return t.kind == 'o' && t.text == text
}

func (p *pathParser) isWord(text string) bool {
	t := p.peek()
	return t.kind == 'i' && t.text == text
}

func (p *pathParser) expect(text string) error {
	if !p.isOp(text) {
		t := p.peek()
		if t.kind == 0 {
			return fmt.Errorf("expected %q at the end", text)
		}
		return fmt.Errorf("expected %q at offset %d, found %q", text, t.off, t.text)
	}
	p.pos++
	return nil
}

// Precedence levels, loosest first: or, and, equality, union, type (is/as), postfix.
const (
	precOr = iota
	precAnd
	precEq
	precUnion
	precType
)

func (p *pathParser) parseExpr(prec int) (*pexpr, error) {
	if prec > precType {
		return p.parsePostfix()
	}
	left, err := p.parseExpr(prec + 1)
	if err != nil {
		return nil, err
	}
	for {
		var op popKind
		switch {
		case prec == precOr && p.isWord("or"):
			op = opOr
		case prec == precAnd && p.isWord("and"):
			op = opAnd
		case prec == precEq && p.isOp("="):
			op = opEq
		case prec == precEq && p.isOp("!="):
			op = opNe
		case prec == precUnion && p.isOp("|"):
			op = opUnion
		case prec == precType && (p.isWord("is") || p.isWord("as")):
			op = opIs
			if p.peek().text == "as" {
				op = opAs
			}
			p.pos++
			name, err := p.typeSpecifier()
			if err != nil {
				return nil, err
			}
			left = &pexpr{op: op, target: left, name: name}
			continue
		default:
			return left, nil
		}
		p.pos++
		right, err := p.parseExpr(prec + 1)
		if err != nil {
			return nil, err
		}
		left = &pexpr{op: op, args: []*pexpr{left, right}}
	}
}

func (p *pathParser) typeSpecifier() (string, error) {
	t := p.peek()
	if t.kind != 'i' {
		return "", fmt.Errorf("expected a type name at offset %d", t.off)
	}
	p.pos++
	name := t.text
	if p.isOp(".") && (name == "FHIR" || name == "System") {
		p.pos++
		t = p.peek()
		if t.kind != 'i' {
			return "", fmt.Errorf("expected a type name at offset %d", t.off)
		}
		p.pos++
		name = t.text
	}
	return canonicalTypeName(name)
}

// canonicalTypeName maps a type name as written to an R4 type: "DateTime" (as R4's own
// Observation-code-value-date writes it) and FHIRPath system types ("String") become the
// primitive ("dateTime", "string").
func canonicalTypeName(name string) (string, error) {
	if LookupType(name) != nil {
		return name, nil
	}
	switch name {
	case "Integer":
		return "integer", nil
	case "Decimal":
		return "decimal", nil
	case "Boolean":
		return "boolean", nil
	}
	if name != "" {
		lower := strings.ToLower(name[:1]) + name[1:]
		if t := LookupType(lower); t != nil && t.Kind == PrimitiveKind {
			return lower, nil
		}
	}
	return "", fmt.Errorf("unknown type %q", name)
}

func (p *pathParser) parsePostfix() (*pexpr, error) {
	e, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.pos++
			t := p.peek()
			if t.kind != 'i' {
				return nil, fmt.Errorf("expected a name after '.' at offset %d", t.off)
			}
			p.pos++
			if p.isOp("(") {
				e, err = p.parseCall(e, t.text)
				if err != nil {
					return nil, err
				}
			} else {
				e = &pexpr{op: opMember, target: e, name: t.text}
			}
		case p.isOp("["):
			p.pos++
			t := p.peek()
			if t.kind != 'n' {
				return nil, fmt.Errorf("only integer indexers are supported (offset %d)", t.off)
			}
			n, err := strconv.Atoi(t.text)
			if err != nil {
				return nil, fmt.Errorf("bad index %q", t.text)
			}
			p.pos++
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			e = &pexpr{op: opIndex, target: e, n: n}
		default:
			return e, nil
		}
	}
}

func (p *pathParser) parseCall(target *pexpr, name string) (*pexpr, error) {
	p.pos++ // (
	e := &pexpr{op: opFunc, target: target, name: name}
	if p.isOp(")") {
		p.pos++
	} else {
		for {
			var arg *pexpr
			var err error
			if name == "as" || name == "ofType" || name == "is" {
				var tn string
				tn, err = p.typeSpecifier()
				arg = &pexpr{op: opString, name: tn}
			} else {
				arg, err = p.parseExpr(0)
			}
			if err != nil {
				return nil, err
			}
			e.args = append(e.args, arg)
			if p.isOp(",") {
				p.pos++
				continue
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			break
		}
	}
	want := -1
	switch name {
	case "where", "as", "ofType", "is", "extension":
		want = 1
	case "resolve", "first", "last", "empty", "not", "hasValue":
		want = 0
	case "exists":
		if len(e.args) > 1 {
			return nil, fmt.Errorf("exists() takes at most one argument")
		}
	default:
		return nil, fmt.Errorf("unsupported function %s()", name)
	}
	if want >= 0 && len(e.args) != want {
		return nil, fmt.Errorf("%s() takes %d argument(s), got %d", name, want, len(e.args))
	}
	if name == "as" || name == "ofType" || name == "is" {
		e.name, e.op = e.args[0].name, map[string]popKind{"as": opAs, "ofType": opAs, "is": opIs}[name]
		e.args = nil
	}
	return e, nil
}

func (p *pathParser) parseTerm() (*pexpr, error) {
	t := p.peek()
	switch t.kind {
	case 0:
		return nil, fmt.Errorf("unexpected end of expression")
	case 's':
		p.pos++
		return &pexpr{op: opString, name: t.text, lit: &Value{Kind: String, Text: t.text}}, nil
	case 'n':
		p.pos++
		n, err := strconv.Atoi(t.text)
		if err != nil {
			return nil, fmt.Errorf("unsupported number literal %q", t.text)
		}
		return &pexpr{op: opInt, n: n, lit: &Value{Kind: Number, Text: t.text}}, nil
	case 'v':
		p.pos++
		if t.text == "%resource" || t.text == "%rootResource" {
			return &pexpr{op: opResource}, nil
		}
		return nil, fmt.Errorf("unsupported variable %s", t.text)
	case 'o':
		if t.text == "(" {
			p.pos++
			e, err := p.parseExpr(0)
			if err != nil {
				return nil, err
			}
			return e, p.expect(")")
		}
		return nil, fmt.Errorf("unexpected %q at offset %d", t.text, t.off)
	}
	p.pos++
	switch t.text {
	case "true", "false":
		return &pexpr{op: opBool, n: map[string]int{"false": 0, "true": 1}[t.text]}, nil
	case "$this":
		return &pexpr{op: opThis}, nil
	}
	if p.isOp("(") {
		return p.parseCall(&pexpr{op: opThis}, t.text)
	}
	if c := t.text[0]; c >= 'A' && c <= 'Z' {
		if LookupType(t.text) == nil {
			return nil, fmt.Errorf("unknown type %q", t.text)
		}
		return &pexpr{op: opTypeName, name: t.text}, nil
	}
	return &pexpr{op: opMember, target: &pexpr{op: opThis}, name: t.text}, nil
}

// prune drops the branches of unions that start with the name of another resource type
// ("AllergyIntolerance.patient | CarePlan.subject... | ..." compiled for CarePlan), so that
// shared expressions cost only their own branch at run time. It returns nil when the whole
// expression is such a branch.
func prune(e *pexpr, base string) *pexpr {
	if e.op == opUnion {
		a, b := prune(e.args[0], base), prune(e.args[1], base)
		switch {
		case a == nil:
			return b
		case b == nil:
			return a
		}
		e.args[0], e.args[1] = a, b
		return e
	}
	leaf := e
	for {
		if leaf.target == nil {
			break
		}
		leaf = leaf.target
	}
	if leaf.op == opTypeName && !isA(base, leaf.name) && !isA(leaf.name, base) {
		if t := LookupType(leaf.name); t != nil && t.Kind == ResourceKind {
			if bt := LookupType(base); bt != nil && bt.Kind == ResourceKind {
				return nil
			}
		}
	}
	return e
}

// ---- static types ----

// stype is a static type: a type name and the members of its values (nil for primitives and
// for resources known only at run time).
type stype struct {
	name string
	sc   *members
}

// baseStype returns the static type of a type name or a backbone element path.
func baseStype(name string) (stype, bool) {
	if t := LookupType(name); t != nil {
		if t.Kind == PrimitiveKind {
			return stype{name: name}, true
		}
		return stype{name: name, sc: &t.members}, true
	}
	if strings.Contains(name, ".") {
		if el := LookupElement(name); el != nil && el.elems.hi > el.elems.lo {
			return stype{name: "BackboneElement", sc: &el.members}, true
		}
	}
	return stype{}, false
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isA reports whether type typ is name or derives from it.
func isA(typ, name string) bool {
	if typ == name {
		return true
	}
	bases := typeBases()
	for typ != "" {
		b, ok := bases[typ]
		if !ok {
			return false
		}
		if b == name {
			return true
		}
		typ = b
	}
	return false
}

// typeBases maps every type to its base type.
var typeBases = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, len(typeTable))
	for i := range typeTable {
		m[typeTable[i].Name] = typeTable[i].Base
	}
	return m
})

// memberCands lists the JSON members that element name selects in a scope: one for a plain
// element, one per type for a choice element (value → valueQuantity, valueString, ...).
func memberCands(sc *members, name string) []cand {
	el, tp := sc.Member(name)
	if el != nil && el.Name != name && tp != nil && tp.JSONName == name {
		return []cand{elemCand(el, tp)} // a choice by its JSON name: valueQuantity
	}
	if el == nil || el.Name != name {
		el, tp = sc.byName(name + "[x]")
		if el == nil {
			el, tp = sc.byName(name)
			if el == nil || strings.HasSuffix(el.Name, "[x]") {
				return nil
			}
		}
	}
	if tp != nil {
		return []cand{elemCand(el, tp)}
	}
	out := make([]cand, 0, len(el.Types))
	for i := range el.Types {
		out = append(out, elemCand(el, &el.Types[i]))
	}
	if len(el.Types) == 0 && el.elems.hi > el.elems.lo { // contentReference
		out = append(out, cand{json: el.Name, typ: "BackboneElement", sc: &el.members})
	}
	return out
}

func elemCand(el *Element, tp *ElementType) cand {
	c := cand{json: tp.JSONName, typ: tp.Code}
	switch {
	case el.elems.hi > el.elems.lo:
		c.sc = &el.members
	case tp.Code == "Resource":
		c.res = true
	case tp.Def != nil && tp.Def.Kind != PrimitiveKind:
		c.sc = &tp.Def.members
	}
	return c
}

func boolTypes() []stype { return []stype{{name: "boolean"}} }

// checkPath infers the result types of e for the input types in, and reports unknown names.
// An empty in means "unknown": nothing is checked below it.
func checkPath(e *pexpr, in, this []stype) ([]stype, error) {
	switch e.op {
	case opThis:
		return in, nil
	case opResource:
		return this, nil
	case opTypeName:
		if len(in) == 0 {
			st, _ := baseStype(e.name)
			return []stype{st}, nil
		}
		var out []stype
		for _, t := range in {
			if isA(t.name, e.name) || t.name == "Resource" {
				out = append(out, t)
			}
		}
		return out, nil // an empty result: a branch for another type
	case opString:
		return []stype{{name: "string"}}, nil
	case opBool:
		return boolTypes(), nil
	case opInt:
		return []stype{{name: "integer"}}, nil
	case opMember:
		tin, err := checkPath(e.target, in, this)
		if err != nil || len(tin) == 0 {
			return nil, err
		}
		var out []stype
		found, dynamic := false, false
		for _, t := range tin {
			if t.sc == nil {
				if t.name == "Resource" || LookupType(t.name) == nil || LookupType(t.name).Kind == ResourceKind {
					dynamic = true
				} else if e.name == "value" { // .value on a primitive is the primitive
					found = true
					out = append(out, t)
				}
				continue
			}
			cands := memberCands(t.sc, e.name)
			if len(cands) == 0 {
				continue
			}
			found = true
			e.cands = append(e.cands, scopeCands{sc: t.sc, cands: cands})
			for _, c := range cands {
				st := stype{name: c.typ, sc: c.sc}
				if c.res {
					st = stype{name: "Resource"}
				}
				out = append(out, st)
			}
		}
		if !found && !dynamic {
			names := make([]string, len(tin))
			for i, t := range tin {
				names[i] = t.name
			}
			return nil, fmt.Errorf("no element %q on %s", e.name, strings.Join(names, ", "))
		}
		return dedupeStypes(out), nil
	case opIndex:
		return checkPath(e.target, in, this)
	case opUnion:
		var out []stype
		for _, a := range e.args {
			t, err := checkPath(a, in, this)
			if err != nil {
				return nil, err
			}
			out = append(out, t...)
		}
		return dedupeStypes(out), nil
	case opAnd, opOr, opEq, opNe:
		for _, a := range e.args {
			if _, err := checkPath(a, in, this); err != nil {
				return nil, err
			}
		}
		return boolTypes(), nil
	case opIs:
		if _, err := checkPath(e.target, in, this); err != nil {
			return nil, err
		}
		return boolTypes(), nil
	case opAs:
		tin, err := checkPath(e.target, in, this)
		if err != nil {
			return nil, err
		}
		var out []stype
		for _, t := range tin {
			if isA(t.name, e.name) {
				out = append(out, t)
			} else if t.name == "Resource" && LookupType(e.name).Kind == ResourceKind {
				st, _ := baseStype(e.name)
				out = append(out, st)
			}
		}
		// Fold the type into a choice step: value.as(Quantity) reads only valueQuantity (and
		// the members of Quantity's profiles, Age, Duration...). opAs still filters at run time.
		if t := e.target; t.op == opMember {
			for i := range t.cands {
				var kept []cand
				for _, c := range t.cands[i].cands {
					if c.res || isA(c.typ, e.name) {
						kept = append(kept, c)
					}
				}
				t.cands[i].cands = kept
			}
		}
		return out, nil
	case opFunc:
		tin, err := checkPath(e.target, in, this)
		if err != nil {
			return nil, err
		}
		switch e.name {
		case "where":
			for _, t := range tin {
				if _, err := checkPath(e.args[0], []stype{t}, this); err != nil {
					return nil, err
				}
			}
			return tin, nil
		case "exists":
			if len(e.args) == 1 {
				for _, t := range tin {
					if _, err := checkPath(e.args[0], []stype{t}, this); err != nil {
						return nil, err
					}
				}
			}
			return boolTypes(), nil
		case "empty", "not", "hasValue":
			return boolTypes(), nil
		case "first", "last":
			return tin, nil
		case "resolve":
			return []stype{{name: "Resource"}}, nil
		case "extension":
			if e.args[0].op != opString {
				return nil, fmt.Errorf("extension() needs a string literal")
			}
			ext := LookupType("Extension")
			return []stype{{name: "Extension", sc: &ext.members}}, nil
		}
	}
	return nil, fmt.Errorf("unsupported expression")
}

func dedupeStypes(in []stype) []stype {
	out := in[:0:0]
	for _, t := range in {
		dup := false
		for _, o := range out {
			if o == t {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

// ---- evaluation ----

// evalCtx holds an evaluation's state. Results are slices of one arena, buf, capped so that
// appending to a result never overwrites another one; the arena is reused between
// evaluations (see evalPool), which makes evaluation allocation-free in the common case.
type evalCtx struct {
	root    *Value
	buf     []PathNode
	entries []store.IndexEntry // ExtractIndex's scratch
}

var evalPool = sync.Pool{New: func() any { return &evalCtx{buf: make([]PathNode, 0, 256)} }}

func (c *evalCtx) mark() int { return len(c.buf) }

func (c *evalCtx) push(n PathNode) { c.buf = append(c.buf, n) }

// since returns what was pushed since mark m.
func (c *evalCtx) since(m int) []PathNode {
	if len(c.buf) == m {
		return nil
	}
	return c.buf[m:len(c.buf):len(c.buf)]
}

func (c *evalCtx) one(n PathNode) []PathNode {
	m := c.mark()
	c.push(n)
	return c.since(m)
}

func (c *evalCtx) boolean(b bool) []PathNode { return c.one(boolNode(b)) }

func (c *evalCtx) eval(e *pexpr, in []PathNode) []PathNode {
	switch e.op {
	case opThis:
		return in
	case opResource:
		if c.root != nil {
			return c.one(NodeOf(c.root))
		}
		return nil
	case opTypeName:
		all := true
		for _, n := range in {
			if !isA(n.Type, e.name) {
				all = false
				break
			}
		}
		if all {
			return in
		}
		m := c.mark()
		for _, n := range in {
			if isA(n.Type, e.name) {
				c.push(n)
			}
		}
		return c.since(m)
	case opString:
		return c.one(PathNode{Value: e.lit, Type: "string"})
	case opInt:
		return c.one(PathNode{Value: e.lit, Type: "integer"})
	case opBool:
		return c.boolean(e.n == 1)
	case opMember:
		return c.member(e, c.eval(e.target, in))
	case opIndex:
		t := c.eval(e.target, in)
		if e.n < len(t) {
			return t[e.n : e.n+1 : e.n+1]
		}
		return nil
	case opUnion:
		a := c.eval(e.args[0], in)
		b := c.eval(e.args[1], in)
		if len(a) == 0 {
			return b
		}
		if len(b) == 0 {
			return a
		}
		m := c.mark()
		c.buf = append(c.buf, a...)
		for _, n := range b {
			dup := false
			for _, o := range a {
				if n.Value != nil && o.Value == n.Value {
					dup = true
					break
				}
			}
			if !dup {
				c.push(n)
			}
		}
		return c.since(m)
	case opAnd, opOr:
		a := truth(c.eval(e.args[0], in))
		if e.op == opAnd && a == 0 {
			return c.boolean(false)
		}
		if e.op == opOr && a == 1 {
			return c.boolean(true)
		}
		b := truth(c.eval(e.args[1], in))
		if e.op == opAnd {
			switch {
			case b == 0:
				return c.boolean(false)
			case a == 1 && b == 1:
				return c.boolean(true)
			}
			return nil
		}
		switch {
		case b == 1:
			return c.boolean(true)
		case a == 0 && b == 0:
			return c.boolean(false)
		}
		return nil
	case opEq, opNe:
		a := c.eval(e.args[0], in)
		b := c.eval(e.args[1], in)
		if len(a) == 0 || len(b) == 0 {
			return nil
		}
		eq := len(a) == len(b)
		for i := 0; eq && i < len(a); i++ {
			eq = nodesEqual(a[i], b[i])
		}
		return c.boolean(eq == (e.op == opEq))
	case opIs:
		t := c.eval(e.target, in)
		if len(t) != 1 {
			return nil
		}
		return c.boolean(isA(t[0].Type, e.name))
	case opAs:
		t := c.eval(e.target, in)
		m := c.mark()
		for _, n := range t {
			if isA(n.Type, e.name) {
				c.push(n)
			}
		}
		return c.since(m)
	case opFunc:
		return c.call(e, c.eval(e.target, in))
	}
	return nil
}

// truth converts a collection to a three-valued boolean: 1 true, 0 false, -1 empty.
func truth(ns []PathNode) int {
	if len(ns) == 0 {
		return -1
	}
	if len(ns) == 1 && ns[0].Value != nil && ns[0].Value.Kind == Bool {
		if ns[0].Value.Text == "true" {
			return 1
		}
		return 0
	}
	return 1 // a single non-boolean item (or several) counts as true
}

func nodesEqual(a, b PathNode) bool {
	if a.Value == nil || b.Value == nil {
		return false
	}
	av, bv := a.Value, b.Value
	switch {
	case av.Kind == String && bv.Kind == String, av.Kind == Bool && bv.Kind == Bool:
		return av.Text == bv.Text
	case av.Kind == Number && bv.Kind == Number:
		x, err1 := strconv.ParseFloat(av.Text, 64)
		y, err2 := strconv.ParseFloat(bv.Text, 64)
		return err1 == nil && err2 == nil && x == y
	}
	return false
}

func (c *evalCtx) member(e *pexpr, in []PathNode) []PathNode {
	m := c.mark()
	for _, n := range in {
		if n.Value == nil || n.Value.Kind != Object {
			if e.name == "value" && n.Value != nil && n.sc == nil {
				c.push(n) // .value of a primitive
			}
			continue
		}
		sc := n.sc
		if sc == nil {
			continue
		}
		var cands []cand
		found := false
		for i := range e.cands {
			if e.cands[i].sc == sc {
				cands, found = e.cands[i].cands, true
				break
			}
		}
		if !found {
			cands = memberCands(sc, e.name)
		}
		if len(cands) > 2 { // a choice: one pass over the object's members
			for i := range n.Value.Obj {
				mb := &n.Value.Obj[i]
				if !strings.HasPrefix(mb.Key, e.name) {
					continue
				}
				for _, cd := range cands {
					if cd.json == mb.Key {
						c.pushValues(&mb.Value, cd)
						break
					}
				}
			}
			continue
		}
		for _, cd := range cands {
			v := n.Value.Get(cd.json)
			if v == nil {
				continue
			}
			if v.Kind == Array {
				for i := range v.Arr {
					c.pushValue(&v.Arr[i], cd)
				}
			} else {
				c.pushValue(v, cd)
			}
		}
	}
	return c.since(m)
}

func (c *evalCtx) pushValues(v *Value, cd cand) {
	if v.Kind == Array {
		for i := range v.Arr {
			c.pushValue(&v.Arr[i], cd)
		}
		return
	}
	c.pushValue(v, cd)
}

func (c *evalCtx) pushValue(v *Value, cd cand) {
	switch {
	case v.Kind == Null:
	case cd.res:
		c.push(NodeOf(v))
	default:
		c.push(PathNode{Value: v, Type: cd.typ, sc: cd.sc})
	}
}

// filter keeps the items of in for which keep is true, in order.
func (c *evalCtx) filter(in []PathNode, keep func(PathNode) bool) []PathNode {
	var small [64]bool
	var flags []bool
	if len(in) <= len(small) {
		flags = small[:len(in)]
	} else {
		flags = make([]bool, len(in))
	}
	all := true
	for i, n := range in {
		flags[i] = keep(n)
		all = all && flags[i]
	}
	if all {
		return in
	}
	m := c.mark()
	for i, n := range in {
		if flags[i] {
			c.push(n)
		}
	}
	return c.since(m)
}

func (c *evalCtx) call(e *pexpr, in []PathNode) []PathNode {
	switch e.name {
	case "where":
		return c.filter(in, func(n PathNode) bool {
			return truth(c.eval(e.args[0], c.one(n))) == 1
		})
	case "exists":
		if len(e.args) == 1 {
			for _, n := range in {
				if truth(c.eval(e.args[0], c.one(n))) == 1 {
					return c.boolean(true)
				}
			}
			return c.boolean(false)
		}
		return c.boolean(len(in) > 0)
	case "empty":
		return c.boolean(len(in) == 0)
	case "hasValue":
		return c.boolean(len(in) == 1 && in[0].sc == nil && in[0].Value != nil)
	case "not":
		switch truth(in) {
		case 1:
			return c.boolean(false)
		case 0:
			return c.boolean(true)
		}
		return nil
	case "first":
		if len(in) > 0 {
			return in[:1:1]
		}
		return nil
	case "last":
		if len(in) > 0 {
			return in[len(in)-1:]
		}
		return nil
	case "resolve":
		var tmp [8]PathNode
		out := tmp[:0]
		for _, n := range in {
			if r, ok := c.resolve(n); ok {
				out = append(out, r)
			}
		}
		m := c.mark()
		c.buf = append(c.buf, out...)
		return c.since(m)
	case "extension":
		url := e.args[0].name
		ext := LookupType("Extension")
		var tmp [8]PathNode
		out := tmp[:0]
		for _, n := range in {
			if n.Value == nil || n.Value.Kind != Object {
				continue
			}
			exts := n.Value.Get("extension")
			if exts == nil || exts.Kind != Array {
				continue
			}
			for i := range exts.Arr {
				x := &exts.Arr[i]
				if u := x.Get("url"); u != nil && u.Text == url {
					out = append(out, PathNode{Value: x, Type: "Extension", sc: &ext.members})
				}
			}
		}
		m := c.mark()
		c.buf = append(c.buf, out...)
		return c.since(m)
	}
	return nil
}

// resolve turns a Reference (or canonical/uri) into a node of the target's type: the
// contained resource for "#id", else a node with only a Type, taken from the reference text
// ("Patient/123", "[base]/Patient/123/_history/2") or from Reference.type.
func (c *evalCtx) resolve(n PathNode) (PathNode, bool) {
	if n.Value == nil {
		return PathNode{}, false
	}
	ref, typ := "", ""
	switch n.Value.Kind {
	case String:
		ref = n.Value.Text
	case Object:
		if r := n.Value.Get("reference"); r != nil && r.Kind == String {
			ref = r.Text
		}
		if t := n.Value.Get("type"); t != nil && t.Kind == String {
			typ = t.Text
		}
	default:
		return PathNode{}, false
	}
	if strings.HasPrefix(ref, "#") {
		if c.root == nil {
			return PathNode{}, false
		}
		if cont := c.root.Get("contained"); cont != nil && cont.Kind == Array {
			for i := range cont.Arr {
				if id := cont.Arr[i].Get("id"); id != nil && id.Text == ref[1:] {
					return NodeOf(&cont.Arr[i]), true
				}
			}
		}
		return PathNode{}, false
	}
	if t, _, _ := ParseReference(ref); t != "" {
		typ = t
	}
	if typ == "" || !IsResourceType(typ) {
		return PathNode{}, false
	}
	return PathNode{Type: typ}, true
}

// LiteralReference reads a Reference.reference the one way Portico reads it everywhere: in the
// search index (and so in the policy, which reads the index), and in the write hooks. "Type/id",
// "Type/id/_history/v" and an absolute URL on this server's base ("<base>/Type/id...") are local
// references to typ/id, and so are their loose spellings ("/Type/id", "Type/id/", "<base>//Type/id",
// "<base>/./Type/id", the base's scheme and host in capitals: localPath); anything else (another
// server's URL, "#contained", "urn:uuid:...", a bare id, a conditional reference, or a malformed
// string such as "Patient/1|/Practitioner/2") is not (ok false).
func LiteralReference(ref, base string) (typ, id string, ok bool) {
	ref = localPath(ref, base)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	typ, id, found := strings.Cut(ref, "/")
	if !found || !IsResourceType(typ) || !validRefID(id) {
		return "", "", false
	}
	return typ, id, true
}

// localPath is ref relative to this server's base when it is on it: the base (compared without
// case: scheme and host are case-insensitive), a leading "/", empty and "." path segments and a
// trailing "/" are taken off. A reference with a scheme that is not the base's, or with a query
// or a fragment, is returned as it is.
func localPath(ref, base string) string {
	base = strings.TrimSuffix(base, "/")
	switch {
	case base != "" && len(ref) > len(base) && strings.EqualFold(ref[:len(base)], base) && ref[len(base)] == '/':
		ref = ref[len(base):]
	case strings.ContainsAny(ref, ":?#|"):
		return ref
	}
	if !strings.Contains(ref, "//") && !strings.Contains(ref, "/./") && !strings.HasPrefix(ref, "/") &&
		!strings.HasPrefix(ref, "./") && !strings.HasSuffix(ref, "/") {
		return ref // the usual "Type/id"
	}
	segs := strings.Split(ref, "/")
	keep := segs[:0]
	for _, s := range segs {
		if s != "" && s != "." {
			keep = append(keep, s)
		}
	}
	return strings.Join(keep, "/")
}

// ReferenceTypeHint is the resource type a reference that is not a local literal one still
// names: "Patient?identifier=..." (a conditional reference left unresolved) and
// "https://elsewhere/fhir/Patient/1" give Patient. The index records it beside the reference's
// URL, so that the policy can treat a resource that may name a patient as naming one.
func ReferenceTypeHint(ref string) string {
	if t, _, found := strings.Cut(ref, "?"); found && IsResourceType(t) {
		return t
	}
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	segs := strings.FieldsFunc(ref, func(r rune) bool { return r == '/' })
	if len(segs) >= 2 && IsResourceType(segs[len(segs)-2]) {
		return segs[len(segs)-2]
	}
	return ""
}

// validRefID reports whether s is a FHIR id: 1-64 of A-Z a-z 0-9 - .
func validRefID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ParseReference splits a reference: "Patient/123" and "Patient/123/_history/2" give
// ("Patient", "123", ""); an absolute URL gives its type and id when it ends in a RESTful
// Type/id[/_history/v] path, and always url = the reference without "/_history/v" and without
// a canonical "|version". A bare id or "#contained" gives ("", "", "").
func ParseReference(ref string) (typ, id, url string) {
	if i := strings.IndexByte(ref, '|'); i >= 0 { // canonical|version
		ref = ref[:i]
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	abs := strings.Contains(ref, ":")
	if abs {
		url = ref
	}
	j := strings.LastIndexByte(ref, '/')
	if j <= 0 {
		return "", "", url
	}
	k := strings.LastIndexByte(ref[:j], '/')
	t, i := ref[k+1:j], ref[j+1:]
	if !IsResourceType(t) || i == "" {
		return "", "", url
	}
	if !abs && k >= 0 {
		return "", "", url // "a/Patient/1" is not a relative reference
	}
	return t, i, url
}
