// Package fhirpath is the FHIRPath subset Portico evaluates: what R4 search-parameter
// expressions use (paths, choice elements, `|`, where(...) with resolve() is Type, as/ofType/is,
// exists(), extension('url'), =, !=, and, or, first(), indexers).
//
// The engine itself lives in package fhir (fhir.CompilePath), because the index extractor
// there needs it and fhir cannot import a package that imports fhir. This package is the
// public face for code outside fhir; see docs/search-index.md for the supported subset.
package fhirpath

import "github.com/portico-health/portico/fhir"

// Expr is a compiled expression, safe for concurrent use.
type Expr = fhir.PathExpr

// Node is one item of a result: a JSON value of the resource tree with its FHIR type.
type Node = fhir.PathNode

// Compile parses expr and checks it against base: a type ("Patient"), a backbone element path
// ("Observation.component"), or "" for no checking. Unknown element names, functions and types
// are errors; so is anything outside the supported subset.
func Compile(base, expr string) (*Expr, error) { return fhir.CompilePath(base, expr) }

// MustCompile is Compile that panics on error, for expressions fixed in code.
func MustCompile(base, expr string) *Expr {
	e, err := Compile(base, expr)
	if err != nil {
		panic(err)
	}
	return e
}

// Evaluate evaluates e on a resource.
func Evaluate(e *Expr, r *fhir.Resource) []Node {
	return e.EvalNodes(&r.Root, []Node{fhir.NodeOf(&r.Root)})
}
