package fhir

import (
	"slices"
	"strings"
)

// SearchParam is one R4 search parameter as it applies to one base type.
type SearchParam struct {
	Base string // the type it is defined on: a resource type, or "Resource" / "DomainResource"
	Code string // the name used in URLs: "birthdate", "_id"
	Type string // SearchParameter.type: number, date, string, token, reference, composite, quantity, uri, special
	// Expression is the FHIRPath as published. A parameter defined on several bases has one
	// expression for all ("AllergyIntolerance.patient | CarePlan.subject | ..."); evaluated
	// on a resource, only the branch of its own type can match.
	Expression  string
	Targets     []string // reference parameters: the resource types they may point to, sorted
	Components  []SearchParamComponent
	URL         string // the canonical url of the SearchParameter
	Description string // as published; for a parameter of several bases, the line about Base
}

// SearchParamComponent is one part of a composite search parameter.
type SearchParamComponent struct {
	Definition string // url of the SearchParameter the part uses
	Expression string // FHIRPath relative to the composite's expression
}

// SearchParams returns the search parameters defined on base itself, sorted by code. The
// parameters every resource has are under "Resource" (_id, _lastUpdated, _tag, ...) and
// "DomainResource" (_text); LookupSearchParam takes them into account.
func SearchParams(base string) []SearchParam {
	lo, _ := slices.BinarySearchFunc(searchParamTable[:], base, func(sp SearchParam, base string) int {
		return strings.Compare(sp.Base, base)
	})
	hi := lo
	for hi < len(searchParamTable) && searchParamTable[hi].Base == base {
		hi++
	}
	return searchParamTable[lo:hi]
}

// LookupSearchParam returns the search parameter code of resourceType, including those
// inherited from Resource and DomainResource and Portico's own (searchparams_portico.go), or nil.
func LookupSearchParam(resourceType, code string) *SearchParam {
	for t := LookupType(resourceType); t != nil; t = LookupType(t.Base) {
		if sp := lookupPorticoParam(t.Name, code); sp != nil {
			return sp
		}
		params := SearchParams(t.Name)
		i, found := slices.BinarySearchFunc(params, code, func(sp SearchParam, code string) int {
			return strings.Compare(sp.Code, code)
		})
		if found {
			return &params[i]
		}
	}
	return nil
}
