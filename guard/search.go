package guard

import (
	"context"
	"slices"

	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// Search implements store.Store: the search as it would run on a store holding only what the
// caller may see. Every searched type must be allowed (else 403); the policy's clauses of each
// type are ANDed into the query (one AnyOf group per type, each with a _type clause, when
// several types are searched), and into every chain and _has at every depth, where a type the
// caller may not search holds nothing. Results are checked again one by one: a result that
// the store returns against the policy is dropped and logged.
func (v *View) Search(ctx context.Context, q store.Query) (store.Page, error) {
	return v.bounded(ctx, func(ctx context.Context) (store.Page, error) { return v.search(ctx, q) })
}

func (v *View) search(ctx context.Context, q store.Query) (store.Page, error) {
	if v.src.policy == nil {
		return v.src.store.Search(ctx, q)
	}
	rq, restricted, err := v.restrictTop(q)
	if err != nil {
		return store.Page{}, err
	}
	page, err := v.src.store.Search(ctx, rq)
	if err != nil || !restricted {
		return page, err
	}
	kept := page.Records[:0]
	for _, rec := range page.Records {
		if rec.Body == nil { // a backend may return matches without their bodies
			full, err := v.src.store.Read(ctx, rec.Type, rec.ID)
			if err != nil {
				return store.Page{}, err
			}
			rec = full
		}
		ok, err := v.visible(ctx, v.Decide(rec.Type, policy.PermSearch), rec)
		if err != nil {
			return store.Page{}, err
		}
		if !ok {
			v.src.log.ErrorContext(ctx, "guard: the store returned a resource outside the caller's reach; dropped",
				"type", rec.Type)
			page.Total = -1
			continue
		}
		kept = append(kept, rec)
	}
	page.Records = kept
	return page, nil
}

// restrictTop restricts a top-level query (a search, or a conditional write's criteria):
// every type it names must be searchable. restricted reports whether anything was added.
func (v *View) restrictTop(q store.Query) (store.Query, bool, error) {
	if len(q.Types) == 0 {
		return q, false, policy.Deny("a search must name the types it searches")
	}
	for _, t := range q.Types {
		if err := v.Can(t, policy.PermSearch); err != nil {
			return q, false, err
		}
	}
	r := restrictor{v: v}
	out := r.query(q)
	return out, r.restricted, nil
}

// filterSubqueries is true but in the test that proves the confinement test catches a
// subquery left unfiltered (export_test.go).
var filterSubqueries = true

// restrictor rewrites a query's clauses; restricted records whether it added any.
type restrictor struct {
	v          *View
	restricted bool
}

// nothing is a clause that matches no resource.
func nothing() store.Clause { return store.Clause{AnyOf: [][]store.Clause{}} }

// query restricts q: the policy's clauses of each searchable type of q.Types (the others are
// dropped: they hold nothing for the caller), and its clauses restricted in turn.
func (r *restrictor) query(q store.Query) store.Query {
	out := q
	out.Where = r.clauses(q.Where)
	var types []string
	var groups [][]store.Clause
	open := true
	for _, t := range q.Types {
		d := r.v.Decide(t, policy.PermSearch)
		if !d.Allow {
			r.restricted = true
			continue
		}
		types = append(types, t)
		c := d.Clauses()
		if c != nil {
			open = false
		}
		groups = append(groups, c)
	}
	switch {
	case len(types) == 0:
		r.restricted = true
		out.Where = append(out.Where, nothing())
		return out
	case open:
		out.Types = types
		return out
	}
	r.restricted = true
	out.Types = types
	if len(types) == 1 {
		out.Where = append(out.Where, store.Clause{AnyOf: [][]store.Clause{groups[0]}, Reach: true})
		return out
	}
	perType := make([][]store.Clause, len(types))
	for i, t := range types {
		perType[i] = append([]store.Clause{{Param: "_type", Kind: store.KindToken, Values: []store.Value{{Code: t}}}}, groups[i]...)
	}
	out.Where = append(out.Where, store.Clause{AnyOf: perType, Reach: true})
	return out
}

// clauses restricts the subqueries of clauses (chains, _has, inside AnyOf groups), copying
// what it changes: the caller's query is left as it was.
func (r *restrictor) clauses(in []store.Clause) []store.Clause {
	if len(in) == 0 {
		return nil
	}
	if !filterSubqueries {
		return slices.Clone(in)
	}
	out := make([]store.Clause, len(in))
	for i, c := range in {
		switch {
		case c.AnyOf != nil:
			groups := make([][]store.Clause, len(c.AnyOf))
			for j, g := range c.AnyOf {
				groups[j] = r.clauses(g)
			}
			c.AnyOf = groups
		case c.Chain != nil:
			chain := r.query(*c.Chain)
			c.Chain = &chain
		case c.Has != nil:
			d := r.v.Decide(c.Has.Type, policy.PermSearch)
			if !d.Allow {
				r.restricted = true
				c = nothing()
				break
			}
			has := *c.Has
			has.Where = r.clauses(has.Where)
			if extra := d.Clauses(); extra != nil {
				r.restricted = true
				has.Where = append(has.Where, extra...)
			}
			c.Has = &has
		}
		out[i] = c
	}
	return out
}
