package main

import (
	"fmt"
	"sort"
	"strings"
)

// expansion is the code set of a value set that some element binds with strength "required".
type expansion struct {
	url        string
	name       string // ValueSet.name as published
	enumerable bool
	reason     string // why the codes cannot be listed, when !enumerable
	codes      []code // sorted by code, then system
}

type code struct {
	system, code, display string
}

// unlistable explains the code systems R4 binds to that are grammars or external registries:
// the definitions do not (and could not) list their codes, so such bindings are not checked.
var unlistable = map[string]string{
	"urn:ietf:bcp:47":           "BCP-47 language tags are a grammar, not a list",
	"urn:ietf:bcp:13":           "MIME types (BCP 13) are an open IANA registry, not a list",
	"http://unitsofmeasure.org": "UCUM units are a grammar, not a list",
	"urn:iso:std:iso:4217":      "ISO 4217 currency codes are not published with the R4 definitions",
}

// expandRequired expands every value set bound with strength "required" by some element.
func expandRequired(d *definitions, types []*typeDef) []*expansion {
	urls := map[string]bool{}
	walkElements(types, func(e *element) {
		if e.binding != "" {
			urls[e.binding] = true
		}
	})
	var out []*expansion
	for _, url := range sortedKeys(urls) {
		x := &expansion{url: url}
		if vs := d.valueSets[url]; vs != nil {
			x.name = vs.Name
		}
		codes, err := d.expand(url, map[string]bool{})
		if err != nil {
			x.reason = err.Error()
		} else {
			x.enumerable, x.codes = true, codes
		}
		out = append(out, x)
	}
	return out
}

// expand lists the codes of a value set's compose; it fails when some part cannot be listed.
func (d *definitions) expand(url string, visiting map[string]bool) ([]code, error) {
	vs := d.valueSets[url]
	if vs == nil {
		return nil, fmt.Errorf("the value set is not published with the R4 definitions")
	}
	if visiting[url] {
		return nil, fmt.Errorf("the value set includes itself")
	}
	visiting[url] = true
	defer delete(visiting, url)

	type key struct{ system, code string }
	set := map[key]string{} // display by system and code
	for _, inc := range vs.Compose.Include {
		codes, err := d.include(inc, visiting)
		if err != nil {
			return nil, err
		}
		for _, c := range codes {
			set[key{c.system, c.code}] = c.display
		}
	}
	for _, exc := range vs.Compose.Exclude {
		codes, err := d.include(exc, visiting)
		if err != nil {
			return nil, err
		}
		for _, c := range codes {
			delete(set, key{c.system, c.code})
		}
	}
	codes := make([]code, 0, len(set))
	for k, display := range set {
		codes = append(codes, code{k.system, k.code, display})
	}
	sort.Slice(codes, func(i, j int) bool {
		a, b := codes[i], codes[j]
		if a.code != b.code {
			return a.code < b.code
		}
		return a.system < b.system
	})
	return codes, nil
}

// include lists the codes one compose.include (or exclude) selects.
func (d *definitions) include(inc vsInclude, visiting map[string]bool) ([]code, error) {
	var out []code
	for _, url := range inc.ValueSet {
		codes, err := d.expand(strings.SplitN(url, "|", 2)[0], visiting)
		if err != nil {
			return nil, fmt.Errorf("included value set %s: %w", url, err)
		}
		for _, c := range codes {
			if inc.System == "" || c.system == inc.System {
				out = append(out, c)
			}
		}
	}
	if inc.System == "" || len(inc.ValueSet) > 0 {
		return out, nil
	}
	if len(inc.Concept) > 0 {
		for _, c := range inc.Concept {
			display := c.Display
			if display == "" {
				display = d.display(inc.System, c.Code)
			}
			out = append(out, code{inc.System, c.Code, display})
		}
		return out, nil
	}
	cs := d.codeSystems[inc.System]
	if cs == nil {
		if why, ok := unlistable[inc.System]; ok {
			return nil, fmt.Errorf("%s", why)
		}
		return nil, fmt.Errorf("code system %s is not published with the R4 definitions", inc.System)
	}
	if cs.Content != "complete" {
		return nil, fmt.Errorf("code system %s is published with content %q, not complete", inc.System, cs.Content)
	}
	roots := cs.Concept
	for _, f := range inc.Filter {
		// Hierarchy filters are the only ones R4 required bindings could need; anything else
		// makes the value set unlistable rather than wrongly listed.
		if f.Property != "concept" || (f.Op != "is-a" && f.Op != "descendent-of") {
			return nil, fmt.Errorf("filter %s %s %s is not supported", f.Property, f.Op, f.Value)
		}
		sub := findConcept(roots, f.Value)
		if sub == nil {
			return nil, fmt.Errorf("filter value %s not found in %s", f.Value, inc.System)
		}
		if f.Op == "is-a" {
			roots = []concept{*sub}
		} else {
			roots = sub.Concept
		}
	}
	var flatten func([]concept)
	flatten = func(cs []concept) {
		for _, c := range cs {
			out = append(out, code{inc.System, c.Code, c.Display})
			flatten(c.Concept)
		}
	}
	flatten(roots)
	return out, nil
}

func findConcept(cs []concept, c string) *concept {
	for i := range cs {
		if cs[i].Code == c {
			return &cs[i]
		}
		if found := findConcept(cs[i].Concept, c); found != nil {
			return found
		}
	}
	return nil
}

// display is the code system's display for a code, "" when unknown.
func (d *definitions) display(system, c string) string {
	if cs := d.codeSystems[system]; cs != nil {
		if found := findConcept(cs.Concept, c); found != nil {
			return found.Display
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
