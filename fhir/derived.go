package fhir

import (
	"slices"
	"strings"
	"sync"
)

// DerivedParams maps each search parameter of resourceType whose values are exactly the union
// of other parameters' values to those parameters, in the order of its expression. R4 has
// several: Observation's combo-code is `Observation.code | Observation.component.code`, that
// is code and component-code together; combo-value-quantity, combo-code-value-quantity and the
// other combo-* likewise.
//
// A store keeps the index entries of a derived parameter only once, under the parameters it is
// derived from, and answers a search on it from theirs (package store/derived): an Observation
// then costs the search index 5 entries fewer of its 17. The derivation is read from the
// published expressions: a parameter is derived when its expression's branches for the type
// are exactly the branches of other parameters of the same kind (and, for composites, the same
// component expressions), none of them itself derived. Of two parameters with the same
// expression, the one with the smaller code is kept. TestDerivedParamsEntries checks on
// realistic resources that the entries really are the union. Nil when the type has none.
func DerivedParams(resourceType string) map[string][]string {
	derivedOnce.Do(findAllDerived)
	return derivedByType[resourceType]
}

var (
	derivedOnce   sync.Once
	derivedByType map[string]map[string][]string
)

// findAllDerived finds the derived parameters of every type, then keeps a derivation only
// where every type with a parameter of that code derives it the same way: a search across
// types (`_type=Coverage,Observation&patient=...`) then reads one set of entries for all of
// them. (Coverage's patient, the same as its beneficiary, stays stored: Observation's patient
// is not derived.)
func findAllDerived() {
	found := map[string]map[string][]string{}
	byCode := map[string][]string{} // parameter code → the types that have it
	for _, typ := range ResourceTypes {
		found[typ] = findDerived(typ)
		for _, sp := range AllSearchParams(typ) {
			byCode[sp.Code] = append(byCode[sp.Code], typ)
		}
	}
	derivedByType = map[string]map[string][]string{}
	for typ, params := range found {
		for code, of := range params {
			same := true
			for _, other := range byCode[code] {
				same = same && slices.Equal(found[other][code], of)
			}
			if !same {
				continue
			}
			if derivedByType[typ] == nil {
				derivedByType[typ] = map[string][]string{}
			}
			derivedByType[typ][code] = of
		}
	}
}

// paramShape is what two parameters must share for one's values to be the other's: the kind,
// and for composites the component expressions.
type paramShape struct {
	code     string
	kind     string
	comps    string // composites: the component expressions
	targets  string // references: the target types
	branches []string
}

func findDerived(resourceType string) map[string][]string {
	var shapes []paramShape
	for _, sp := range AllSearchParams(resourceType) {
		if skipReason(sp) != "" || sp.Type == "special" || strings.HasPrefix(sp.Code, "_") {
			continue
		}
		b := expressionBranches(resourceType, sp.Expression)
		if len(b) == 0 {
			continue
		}
		var comps []string
		for _, c := range sp.Components {
			comps = append(comps, strings.Join(strings.Fields(c.Expression), ""))
		}
		shapes = append(shapes, paramShape{code: sp.Code, kind: sp.Type, comps: strings.Join(comps, ";"),
			targets: strings.Join(sp.Targets, ","), branches: b})
	}
	slices.SortFunc(shapes, func(a, b paramShape) int { return strings.Compare(a.code, b.code) })

	var out map[string][]string
	for _, p := range shapes {
		var of []string
		covered := map[string]bool{}
		for _, q := range shapes {
			if q.code == p.code || q.kind != p.kind || q.comps != p.comps || q.targets != p.targets || out[q.code] != nil {
				continue
			}
			if len(q.branches) == len(p.branches) && q.code > p.code {
				continue // the same expression: the smaller code is the one kept
			}
			if !subset(q.branches, p.branches) || overlaps(q.branches, covered) {
				continue
			}
			of = append(of, q.code)
			for _, b := range q.branches {
				covered[b] = true
			}
		}
		if len(of) > 0 && len(covered) == len(p.branches) {
			if out == nil {
				out = map[string][]string{}
			}
			// In the order of the derived parameter's expression: the first is its sort key.
			slices.SortStableFunc(of, func(a, b string) int {
				return firstBranch(p.branches, shapes, a) - firstBranch(p.branches, shapes, b)
			})
			out[p.code] = of
		}
	}
	return out
}

// expressionBranches are the top-level `|` branches of expr that apply to resourceType,
// without spaces, in order, each once.
func expressionBranches(resourceType, expr string) []string {
	var out []string
	depth, start := 0, 0
	add := func(s string) {
		s = strings.Join(strings.Fields(s), "")
		root := strings.TrimLeft(s, "(")
		if (root == resourceType || strings.HasPrefix(root, resourceType+".")) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for i, r := range expr {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case '|':
			if depth == 0 {
				add(expr[start:i])
				start = i + 1
			}
		}
	}
	add(expr[start:])
	return out
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func overlaps(a []string, covered map[string]bool) bool {
	for _, x := range a {
		if covered[x] {
			return true
		}
	}
	return false
}

// firstBranch is the position in branches of param code's first branch.
func firstBranch(branches []string, shapes []paramShape, code string) int {
	for _, s := range shapes {
		if s.code == code {
			for i, b := range branches {
				if slices.Contains(s.branches, b) {
					return i
				}
			}
		}
	}
	return len(branches)
}
