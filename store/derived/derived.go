// Package derived keeps the search parameters that only repeat others out of the search index,
// in front of any store.Store, and answers searches on them from the parameters they repeat.
//
// R4's Observation combo-code is `Observation.code | Observation.component.code`: its entries
// are code's and component-code's again, and likewise for the other combo-* parameters
// (fhir.DerivedParams finds them from the published expressions). Storing them costs an
// Observation 5 of its 17 index entries and, on the embedded store, a third of the CPU and of
// the bytes written per create (docs/store.md, "Write cost"). Wrap drops those entries from
// every write and rewrites every search, conditional create included, so that a clause on a
// derived parameter becomes one on the parameters it is derived from:
//
//	combo-code=X            → code=X OR component-code=X           (store.Clause.AnyOf)
//	combo-code:not=X        → code:not=X AND component-code:not=X
//	combo-code:missing=true → code:missing=true AND component-code:missing=true
//	_sort=combo-code        → _sort=code (the first of them; see docs/search.md)
//
// The rewrite happens above the backends, so SQLite and MongoDB answer alike, and a database
// written before the change (which still holds derived entries) answers the same.
package derived

import (
	"context"
	"strings"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// Wrap returns st with derived parameters neither stored nor searched directly.
func Wrap(st store.Store) store.Store { return wrapped{st} }

type wrapped struct{ store.Store }

// Unwrap returns the store underneath.
func (w wrapped) Unwrap() store.Store { return w.Store }

// Capabilities are those of the store underneath.
func (w wrapped) Capabilities() store.Capabilities { return store.CapabilitiesOf(w.Store) }

// Write stores each write's index without its derived entries.
func (w wrapped) Write(ctx context.Context, writes ...store.Write) error {
	var out []store.Write
	for i, wr := range writes {
		index, dropped := StoredIndex(wr.Type, wr.Index)
		var ifNone *store.Query
		if wr.IfNoneExist != nil {
			q := RewriteQuery(*wr.IfNoneExist)
			ifNone = &q
		}
		if !dropped && ifNone == nil {
			if out != nil {
				out = append(out, wr)
			}
			continue
		}
		if out == nil {
			out = append(make([]store.Write, 0, len(writes)), writes[:i]...)
		}
		wr.Index, wr.IfNoneExist = index, ifNone
		out = append(out, wr)
	}
	if out == nil {
		out = writes
	}
	return w.Store.Write(ctx, out...)
}

// Search answers q from the stored parameters.
func (w wrapped) Search(ctx context.Context, q store.Query) (store.Page, error) {
	return w.Store.Search(ctx, RewriteQuery(q))
}

// StoredIndex is index without the entries of typ's derived parameters (and their
// "<param>:of-type" entries); dropped reports whether there were any. index is not modified.
func StoredIndex(typ string, index []store.IndexEntry) (out []store.IndexEntry, dropped bool) {
	derived := fhir.DerivedParams(typ)
	if derived == nil {
		return index, false
	}
	for i, e := range index {
		if _, ok := derived[baseParam(e.Param)]; !ok {
			if out != nil {
				out = append(out, e)
			}
			continue
		}
		if out == nil {
			out = append(make([]store.IndexEntry, 0, len(index)), index[:i]...)
		}
	}
	if out == nil {
		return index, false
	}
	return out, true
}

func baseParam(p string) string {
	base, _, _ := strings.Cut(p, ":")
	return base
}

// RewriteQuery returns q with its clauses and sort keys on derived parameters expressed on the
// parameters they derive from. q is not modified.
func RewriteQuery(q store.Query) store.Query {
	q.Where = rewriteClauses(q.Types, q.Where)
	if len(q.Types) > 0 {
		var sorts []store.Sort
		for i, s := range q.Sort {
			if of := derivation(q.Types, s.Param); of != nil {
				if sorts == nil {
					sorts = append(make([]store.Sort, 0, len(q.Sort)), q.Sort[:i]...)
				}
				s.Param = of[0]
			}
			if sorts != nil {
				sorts = append(sorts, s)
			}
		}
		if sorts != nil {
			q.Sort = sorts
		}
	}
	return q
}

// derivation is what param derives from in every one of types; nil when it is stored as is
// in one of them (or types is empty: a search of all types uses only common parameters, none
// of them derived).
func derivation(types []string, param string) []string {
	var of []string
	for i, t := range types {
		d := fhir.DerivedParams(t)[baseParam(param)]
		if d == nil || (i > 0 && !equal(d, of)) {
			return nil
		}
		of = d
	}
	return of
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// rewriteClauses rewrites each clause; the result is a new slice (queries are small).
func rewriteClauses(types []string, cls []store.Clause) []store.Clause {
	if len(cls) == 0 {
		return cls
	}
	out := make([]store.Clause, 0, len(cls))
	for _, c := range cls {
		out = append(out, rewriteClause(types, c)...)
	}
	return out
}

// rewriteClause expresses c on stored parameters: one clause, or several to AND.
func rewriteClause(types []string, c store.Clause) []store.Clause {
	switch {
	case c.AnyOf != nil:
		groups := make([][]store.Clause, len(c.AnyOf))
		for i, g := range c.AnyOf {
			groups[i] = rewriteClauses(types, g)
		}
		c.AnyOf = groups
		return []store.Clause{c}
	case c.Has != nil:
		h := *c.Has
		h.Where = rewriteClauses([]string{h.Type}, h.Where)
		of := derivation([]string{h.Type}, h.Param)
		if of == nil {
			c.Has = &h
			return []store.Clause{c}
		}
		var groups [][]store.Clause
		for _, p := range of {
			hp := h
			hp.Param = p
			groups = append(groups, []store.Clause{{Has: &hp}})
		}
		return []store.Clause{anyOf(groups)}
	}
	if c.Chain != nil {
		ch := RewriteQuery(*c.Chain)
		c.Chain = &ch
	}
	of := derivation(types, c.Param)
	if of == nil {
		return []store.Clause{c}
	}
	suffix := strings.TrimPrefix(c.Param, baseParam(c.Param)) // ":of-type" entries follow their parameter
	each := func(p string) store.Clause { d := c; d.Param = p + suffix; return d }
	negative := c.Modifier == store.ModNot || (c.Modifier == store.ModMissing && c.Missing)
	if negative { // no entry of the union matches: none of any part does
		out := make([]store.Clause, len(of))
		for i, p := range of {
			out[i] = each(p)
		}
		return out
	}
	groups := make([][]store.Clause, len(of))
	for i, p := range of {
		groups[i] = []store.Clause{each(p)}
	}
	return []store.Clause{anyOf(groups)}
}

// anyOf is the OR of groups, or the one group's clause itself.
func anyOf(groups [][]store.Clause) store.Clause {
	if len(groups) == 1 && len(groups[0]) == 1 {
		return groups[0][0]
	}
	return store.Clause{AnyOf: groups}
}
