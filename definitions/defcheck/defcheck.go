// Package defcheck checks how a resource uses Portico's definitions (package definitions).
// The tests of the code that writes Portico's extensions and codes run it on what that code
// wrote, so that the code and the definitions the server publishes cannot drift apart.
package defcheck

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/portico-health/portico/definitions"
	"github.com/portico-health/portico/fhir"
)

// Checker checks resources and counts the definitions they use.
type Checker struct {
	// Used counts, by canonical url, the Portico extensions (and their sub-extensions, as
	// "url#name"), code systems and other definitions the checked resources used.
	Used map[string]int
}

// New returns a Checker with nothing used yet.
func New() *Checker { return &Checker{Used: map[string]int{}} }

// Problems lists how a resource (JSON) disagrees with Portico's definitions; none when it
// agrees. It checks:
//   - every extension in Portico's canonical base: a StructureDefinition defines it; it is
//     where its context allows and no more often than the definition allows; its value has a
//     type the definition allows and, for a required binding, a code of the value set; a
//     complex extension has only the sub-extensions it defines, each as often as allowed;
//   - every Coding (and meta.tag) whose system is in Portico's base: a CodeSystem defines it
//     and holds the code; the display is the code's (or begins with it and ": ", a display
//     qualified with a detail, as the review flag's is);
//   - every other string in Portico's base (a canonical): the http form, of a definition.
//
// Contained resources and the resources of Bundle entries and Parameters are checked too.
func (c *Checker) Problems(resource []byte) []string {
	var v map[string]any
	if err := json.Unmarshal(resource, &v); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	w := walk{c: c}
	w.resource(v)
	return w.problems
}

type walk struct {
	c        *Checker
	problems []string
}

func (w *walk) report(path, format string, args ...any) {
	w.problems = append(w.problems, path+": "+fmt.Sprintf(format, args...))
}

func (w *walk) use(url string) {
	if w.c.Used != nil {
		w.c.Used[url]++
	}
}

func (w *walk) resource(v map[string]any) {
	rt, _ := v["resourceType"].(string)
	w.object(v, rt)
}

// object walks an element whose FHIR path is path ("Communication.recipient").
func (w *walk) object(v map[string]any, path string) {
	for _, k := range slices.Sorted(maps.Keys(v)) {
		x := v[k]
		switch {
		case k == "extension" || k == "modifierExtension":
			w.extensions(x, path)
		case k == "contained" || k == "resource":
			w.resources(x, path+"."+k)
		case strings.HasPrefix(k, "_"):
			w.value(x, path+"."+k[1:])
		case k == "system" && v["code"] != nil:
			// a Coding's system: checked with its code below
		default:
			w.value(x, path+"."+k)
		}
	}
	if sys, ok := v["system"].(string); ok && inBase(sys) {
		if code, ok := v["code"].(string); ok {
			display, _ := v["display"].(string)
			w.coding(path, sys, code, display)
		}
	}
}

func (w *walk) resources(x any, path string) {
	switch r := x.(type) {
	case map[string]any:
		if _, ok := r["resourceType"].(string); ok {
			w.resource(r)
			return
		}
		w.object(r, path)
	case []any:
		for _, e := range r {
			w.resources(e, path)
		}
	}
}

func (w *walk) value(x any, path string) {
	switch t := x.(type) {
	case map[string]any:
		w.object(t, path)
	case []any:
		for _, e := range t {
			w.value(e, path)
		}
	case string:
		if inBase(t) {
			w.canonical(path, t)
		}
	}
}

// inBase reports whether s is a URL in Portico's canonical base, in either form.
func inBase(s string) bool {
	return strings.HasPrefix(s, definitions.Base+"/") || strings.HasPrefix(s, definitions.LegacyBase+"/")
}

func (w *walk) canonical(path, s string) {
	url, _, _ := strings.Cut(s, "|")
	if !strings.HasPrefix(url, definitions.Base+"/") {
		w.report(path, "%s is in the legacy https base; the canonical base is %s", s, definitions.Base)
		return
	}
	if _, ok := definitions.Lookup(url); !ok {
		w.report(path, "%s names no definition of the package", s)
		return
	}
	w.use(url)
}

func (w *walk) coding(path, system, code, display string) {
	if !strings.HasPrefix(system, definitions.Base+"/") {
		w.report(path, "system %s is in the legacy https base", system)
		return
	}
	cs := codeSystems()[system]
	if cs == nil {
		w.report(path, "system %s: no CodeSystem of the package", system)
		return
	}
	w.use(system)
	d, ok := cs[code]
	switch {
	case !ok:
		w.report(path, "code %q is not in %s", code, system)
	case display != "" && display != d && !strings.HasPrefix(display, d+": "):
		w.report(path, "display %q of %s#%s is not the code's (%q)", display, system, code, d)
	}
}

func (w *walk) extensions(x any, path string) {
	list, _ := x.([]any)
	seen := map[string]int{}
	for _, e := range list {
		ext, _ := e.(map[string]any)
		url, _ := ext["url"].(string)
		if !inBase(url) {
			w.object(ext, path+".extension")
			continue
		}
		if !strings.HasPrefix(url, definitions.Base+"/") {
			w.report(path, "extension %s is in the legacy https base; the canonical base is %s", url, definitions.Base)
			continue
		}
		def := extensions()[url]
		if def == nil {
			w.report(path, "extension %s: no StructureDefinition of the package (in %s)", url, definitions.Base)
			continue
		}
		w.use(url)
		seen[url]++
		if !slices.Contains(def.contexts, path) {
			w.report(path, "extension %s is not allowed here (context: %s)", url, strings.Join(def.contexts, ", "))
		}
		if def.subs == nil {
			w.simple(ext, def.value, path, url)
			continue
		}
		w.complex(ext, def, path)
	}
	for url, n := range seen {
		if def := extensions()[url]; def.max >= 0 && n > def.max {
			w.report(path, "extension %s appears %d times; at most %d", url, n, def.max)
		}
	}
}

// simple checks an extension with a value: one value of an allowed type, no sub-extensions.
func (w *walk) simple(ext map[string]any, want valueDef, path, what string) {
	if _, ok := ext["extension"]; ok {
		w.report(path, "extension %s has sub-extensions; its definition gives it a value", what)
	}
	var keys []string
	for k := range ext {
		if strings.HasPrefix(k, "value") {
			keys = append(keys, k)
		}
	}
	if len(keys) != 1 {
		w.report(path, "extension %s has %d values, not one", what, len(keys))
		return
	}
	typ := valueType(keys[0])
	if !slices.Contains(want.types, typ) {
		w.report(path, "extension %s has a %s value; its definition allows %s", what, typ, strings.Join(want.types, ", "))
		return
	}
	w.value(ext[keys[0]], path+".extension.value")
	if want.required == "" {
		return
	}
	switch typ {
	case "code":
		code, _ := ext[keys[0]].(string)
		if !inValueSet(want.required, "", code) {
			w.report(path, "extension %s: code %q is not in %s", what, code, want.required)
		}
	case "Coding":
		c, _ := ext[keys[0]].(map[string]any)
		sys, _ := c["system"].(string)
		code, _ := c["code"].(string)
		if !inValueSet(want.required, sys, code) {
			w.report(path, "extension %s: %s#%s is not in %s", what, sys, code, want.required)
		}
	}
}

func (w *walk) complex(ext map[string]any, def *extensionDef, path string) {
	url := def.url
	for k := range ext {
		if strings.HasPrefix(k, "value") {
			w.report(path, "extension %s is complex: it has sub-extensions, not %s", url, k)
		}
	}
	count := map[string]int{}
	subs, _ := ext["extension"].([]any)
	for _, s := range subs {
		sub, _ := s.(map[string]any)
		name, _ := sub["url"].(string)
		sd, ok := def.subs[name]
		if !ok {
			w.report(path, "extension %s has a sub-extension %q its definition does not define", url, name)
			continue
		}
		w.use(url + "#" + name)
		count[name]++
		w.simple(sub, sd.value, path, url+"#"+name)
	}
	for _, name := range slices.Sorted(maps.Keys(def.subs)) {
		sd := def.subs[name]
		if count[name] < sd.min {
			w.report(path, "extension %s lacks its sub-extension %q", url, name)
		}
		if sd.max >= 0 && count[name] > sd.max {
			w.report(path, "extension %s has its sub-extension %q %d times; at most %d", url, name, count[name], sd.max)
		}
	}
}

// valueType is the FHIR type of a value[x] member: valueDateTime is dateTime, valueCoding
// Coding.
func valueType(key string) string {
	t := strings.TrimPrefix(key, "value")
	r, n := utf8.DecodeRuneInString(t)
	lower := string(unicode.ToLower(r)) + t[n:]
	if td := fhir.LookupType(lower); td != nil && td.Kind == fhir.PrimitiveKind {
		return lower
	}
	return t
}

// inValueSet reports whether a code (in system, "" for a code whose system the binding
// implies) is in a value set: one of the package's, or an R4 one with a required binding.
func inValueSet(url, system, code string) bool {
	if vs := valueSets()[url]; vs != nil {
		for _, sys := range vs {
			if (system == "" || system == sys) && codeSystems()[sys] != nil {
				if _, ok := codeSystems()[sys][code]; ok {
					return true
				}
			}
		}
		return false
	}
	vs := fhir.LookupValueSet(url)
	if vs == nil {
		return false
	}
	if system == "" {
		return vs.HasCode(code)
	}
	return vs.Contains(system, code)
}

type valueDef struct {
	types    []string // allowed types of value[x]
	required string   // the value set of a required binding, or ""
}

type subDef struct {
	min, max int // max -1: unbounded
	value    valueDef
}

type extensionDef struct {
	url      string
	contexts []string
	max      int // of the extension in its context; -1: unbounded
	value    valueDef
	subs     map[string]subDef // nil for an extension with a value
}

// extensions reads the StructureDefinitions of the package's extensions.
var extensions = sync.OnceValue(func() map[string]*extensionDef {
	out := map[string]*extensionDef{}
	for _, r := range definitions.OfType("StructureDefinition") {
		var sd struct {
			URL          string
			Type         string
			Context      []struct{ Type, Expression string }
			Differential struct {
				Element []struct {
					ID, Path, SliceName string
					Max                 string
					Min                 *int
					Type                []struct{ Code string }
					Binding             *struct{ Strength, ValueSet string }
				}
			}
		}
		if json.Unmarshal(r.JSON, &sd) != nil || sd.Type != "Extension" {
			continue // the package's tests say why
		}
		def := &extensionDef{url: sd.URL, max: -1}
		for _, c := range sd.Context {
			def.contexts = append(def.contexts, c.Expression)
		}
		vd := func(types []struct{ Code string }, b *struct{ Strength, ValueSet string }) valueDef {
			var v valueDef
			for _, t := range types {
				v.types = append(v.types, t.Code)
			}
			if b != nil && b.Strength == "required" {
				v.required, _, _ = strings.Cut(b.ValueSet, "|")
			}
			return v
		}
		for _, el := range sd.Differential.Element {
			sub, rest, sliced := strings.Cut(strings.TrimPrefix(el.ID, "Extension.extension:"), ".")
			switch {
			case el.ID == "Extension":
				def.max = maxOf(el.Max)
			case el.ID == "Extension.value[x]" && len(el.Type) > 0:
				def.value = vd(el.Type, el.Binding)
			case strings.HasPrefix(el.ID, "Extension.extension:") && !sliced:
				if def.subs == nil {
					def.subs = map[string]subDef{}
				}
				s := def.subs[sub]
				s.max = maxOf(el.Max)
				if el.Min != nil {
					s.min = *el.Min
				}
				def.subs[sub] = s
			case strings.HasPrefix(el.ID, "Extension.extension:") && rest == "value[x]":
				s := def.subs[sub]
				s.value = vd(el.Type, el.Binding)
				def.subs[sub] = s
			}
		}
		out[sd.URL] = def
	}
	return out
})

func maxOf(s string) int {
	if s == "*" || s == "" {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// codeSystems maps each CodeSystem of the package to its codes and their displays.
var codeSystems = sync.OnceValue(func() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, r := range definitions.OfType("CodeSystem") {
		var cs struct {
			URL     string
			Concept []struct{ Code, Display string }
		}
		if json.Unmarshal(r.JSON, &cs) != nil {
			continue
		}
		codes := map[string]string{}
		for _, c := range cs.Concept {
			codes[c.Code] = c.Display
		}
		out[cs.URL] = codes
	}
	return out
})

// valueSets maps each ValueSet of the package to the code systems it includes whole.
var valueSets = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	for _, r := range definitions.OfType("ValueSet") {
		var vs struct {
			URL     string
			Compose struct{ Include []struct{ System string } }
		}
		if json.Unmarshal(r.JSON, &vs) != nil {
			continue
		}
		for _, inc := range vs.Compose.Include {
			out[vs.URL] = append(out[vs.URL], inc.System)
		}
	}
	return out
})

// opParam is a parameter (or part) of an OperationDefinition.
type opParam struct {
	Name, Use, Max, Type string
	Min                  int
	Binding              *struct{ Strength, ValueSet string }
	Part                 []opParam
}

// Parameters lists how a Parameters resource that an operation answered disagrees with the
// operation's OperationDefinition (one of the package's, by canonical url): each parameter
// and part is an out parameter it defines, as often as it allows, with a value of its type
// and, for a required binding, a code of the value set; and, as Problems checks, the Portico
// codes and canonicals inside.
func (c *Checker) Parameters(operation string, params []byte) []string {
	r, ok := definitions.Lookup(operation)
	if !ok || r.Type != "OperationDefinition" {
		return []string{operation + ": no OperationDefinition of the package"}
	}
	var od struct{ Parameter []opParam }
	if err := json.Unmarshal(r.JSON, &od); err != nil {
		return []string{r.File + ": " + err.Error()}
	}
	var out []opParam
	for _, p := range od.Parameter {
		if p.Use == "out" {
			out = append(out, p)
		}
	}
	var v map[string]any
	if err := json.Unmarshal(params, &v); err != nil || v["resourceType"] != "Parameters" {
		return []string{"not a Parameters resource"}
	}
	w := walk{c: c}
	w.use(operation)
	list, _ := v["parameter"].([]any)
	w.parameters(list, out, "Parameters.parameter")
	w.resource(v)
	return w.problems
}

func (w *walk) parameters(list []any, defs []opParam, path string) {
	count := map[string]int{}
	for _, x := range list {
		p, _ := x.(map[string]any)
		name, _ := p["name"].(string)
		i := slices.IndexFunc(defs, func(d opParam) bool { return d.Name == name })
		if i < 0 {
			w.report(path, "parameter %q is not defined", name)
			continue
		}
		def := defs[i]
		count[name]++
		where := path + "." + name
		if def.Part != nil {
			parts, _ := p["part"].([]any)
			if len(parts) == 0 {
				w.report(where, "has no parts")
			}
			w.parameters(parts, def.Part, where+".part")
			continue
		}
		var keys []string
		for k := range p {
			if strings.HasPrefix(k, "value") {
				keys = append(keys, k)
			}
		}
		if len(keys) != 1 {
			w.report(where, "%d values, not one", len(keys))
			continue
		}
		if typ := valueType(keys[0]); typ != def.Type {
			w.report(where, "a %s value; the definition says %s", typ, def.Type)
			continue
		}
		if b := def.Binding; b != nil && b.Strength == "required" {
			vs, _, _ := strings.Cut(b.ValueSet, "|")
			switch val := p[keys[0]].(type) {
			case string:
				if !inValueSet(vs, "", val) {
					w.report(where, "code %q is not in %s", val, vs)
				}
			case map[string]any:
				sys, _ := val["system"].(string)
				code, _ := val["code"].(string)
				if !inValueSet(vs, sys, code) {
					w.report(where, "%s#%s is not in %s", sys, code, vs)
				}
			}
		}
	}
	for _, d := range defs {
		if n := count[d.Name]; n < d.Min || d.Max != "*" && n > maxOf(d.Max) {
			w.report(path, "parameter %q appears %d times; the definition says %d..%s", d.Name, n, d.Min, d.Max)
		}
	}
}
