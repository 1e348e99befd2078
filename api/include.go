package api

import (
	"context"
	"fmt"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// _include and _revinclude (search.html#include) run as further store searches:
//   - Source:param[:Target] finds the targets through a reverse chain on the sources' ids:
//     Target?_has:Source:param:_id=id1,id2,... (one search per target type);
//   - _revinclude=Source:param[:Target] finds Source?param=Type/id1,Type/id2,...
//
// :iterate repeats the specs marked with it on what the previous round added, for at most
// maxIncludeRounds rounds; at most maxIncluded resources are included per page. When a bound
// cuts the result short, the Bundle carries a warning.
const (
	maxIncludeRounds = 4
	maxIncluded      = 1000
)

type typedID struct{ typ, id string }

// runIncludes runs the includes through the caller's view: included resources are those it
// may search, and a target type it may not search at all is skipped.
func (a *API) runIncludes(ctx context.Context, v *guard.View, r *searchRequest, matches []store.Record) ([]store.Record, []fhir.Issue, error) {
	seen := make(map[typedID]bool, len(matches))
	for _, m := range matches {
		seen[typedID{m.Type, m.ID}] = true
	}
	var (
		out       []store.Record
		warnings  []fhir.Issue
		truncated bool
		bytes     int
	)
	add := func(recs []store.Record) []store.Record {
		var added []store.Record
		for _, rec := range recs {
			k := typedID{rec.Type, rec.ID}
			if seen[k] {
				continue
			}
			if len(out) >= maxIncluded || bytes+len(rec.Body) > a.pageBytes() {
				truncated = true
				break
			}
			bytes += len(rec.Body)
			seen[k] = true
			out = append(out, rec)
			added = append(added, rec)
		}
		return added
	}
	sources := matches
	for round := 0; len(sources) > 0; round++ {
		if round == maxIncludeRounds {
			warnings = append(warnings, fhir.Issue{Severity: "warning", Code: "too-costly",
				Diagnostics: fmt.Sprintf("_include:iterate stopped after %d rounds", maxIncludeRounds)})
			break
		}
		var next []store.Record
		for _, spec := range r.includes {
			if round > 0 && !spec.iterate {
				continue
			}
			recs, err := a.includeTargets(ctx, v, spec, sources)
			if err != nil {
				return nil, nil, err
			}
			next = append(next, add(recs)...)
		}
		for _, spec := range r.revincludes {
			if round > 0 && !spec.iterate {
				continue
			}
			recs, err := a.revincludeSources(ctx, v, spec, sources)
			if err != nil {
				return nil, nil, err
			}
			next = append(next, add(recs)...)
		}
		sources = next
		if truncated {
			break
		}
	}
	if truncated {
		warnings = append(warnings, fhir.Issue{Severity: "warning", Code: "too-costly",
			Diagnostics: fmt.Sprintf("included resources were limited to %d, and to %d MiB", maxIncluded, a.pageBytes()>>20)})
	}
	return out, warnings, nil
}

// referenceParams are the reference parameters of source that spec names ("*": all).
func referenceParams(source, param string) []*fhir.SearchParam {
	if param != "*" {
		if sp := fhir.LookupSearchParam(source, param); sp != nil && sp.Type == "reference" {
			return []*fhir.SearchParam{sp}
		}
		return nil
	}
	var out []*fhir.SearchParam
	for t := fhir.LookupType(source); t != nil; t = fhir.LookupType(t.Base) {
		params := fhir.SearchParams(t.Name)
		for i := range params {
			if params[i].Type == "reference" && params[i].Expression != "" {
				out = append(out, &params[i])
			}
		}
	}
	return out
}

// includeTargets finds what the sources of spec.source refer to through spec.param.
func (a *API) includeTargets(ctx context.Context, v *guard.View, spec includeSpec, sources []store.Record) ([]store.Record, error) {
	var ids []store.Value
	for _, s := range sources {
		if s.Type == spec.source {
			ids = append(ids, store.Value{Code: s.ID})
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var out []store.Record
	for _, sp := range referenceParams(spec.source, spec.param) {
		targets := sp.Targets
		if spec.target != "" {
			targets = []string{spec.target}
		}
		for _, t := range targets {
			if _, ok := a.types[t]; !ok {
				continue
			}
			if !targetAllowed(sp.Targets, t) || v.Can(t, policy.PermSearch) != nil {
				continue
			}
			for _, part := range chunks(ids) {
				q := store.Query{Types: []string{t}, Count: maxIncluded, MaxBytes: a.pageBytes(), Where: []store.Clause{{
					Param: "_has", Kind: store.KindSpecial,
					Has: &store.Has{Type: spec.source, Param: sp.Code, Where: []store.Clause{
						{Param: "_id", Kind: store.KindToken, Values: part},
					}},
				}}}
				page, err := v.Search(ctx, q)
				if err != nil {
					return nil, err
				}
				out = append(out, page.Records...)
			}
		}
	}
	return out, nil
}

// revincludeSources finds the resources of spec.source that refer to the sources through
// spec.param.
func (a *API) revincludeSources(ctx context.Context, v *guard.View, spec includeSpec, sources []store.Record) ([]store.Record, error) {
	if v.Can(spec.source, policy.PermSearch) != nil {
		return nil, nil
	}
	var out []store.Record
	for _, sp := range referenceParams(spec.source, spec.param) {
		var refs []store.Value
		for _, s := range sources {
			if (spec.target == "" || s.Type == spec.target) && targetAllowed(sp.Targets, s.Type) {
				refs = append(refs, store.Value{RefType: s.Type, RefID: s.ID})
			}
		}
		if len(refs) == 0 {
			continue
		}
		for _, part := range chunks(refs) {
			q := store.Query{Types: []string{spec.source}, Count: maxIncluded, MaxBytes: a.pageBytes(), Where: []store.Clause{
				{Param: sp.Code, Kind: store.KindReference, Values: part},
			}}
			page, err := v.Search(ctx, q)
			if err != nil {
				return nil, err
			}
			out = append(out, page.Records...)
		}
	}
	return out, nil
}

// valueChunk bounds the values of one clause the API builds itself (the sources of an
// include can be a whole page): a store's query of hundreds of ORed values passes its
// expression limits (SQLite's depth of 1,000 gave a 500).
const valueChunk = 100

// chunks splits vs into slices of at most valueChunk values.
func chunks(vs []store.Value) [][]store.Value {
	var out [][]store.Value
	for len(vs) > valueChunk {
		out = append(out, vs[:valueChunk])
		vs = vs[valueChunk:]
	}
	return append(out, vs)
}
