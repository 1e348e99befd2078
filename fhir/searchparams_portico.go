package fhir

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/portico-health/portico/definitions"
)

// porticoSearchParams are Portico's own search parameters, beyond those R4 publishes: the
// SearchParameter resources of the definitions package (definitions/package), the one place
// they are defined, which the server also serves. They are merged into LookupSearchParam and
// AllSearchParams and extracted like the published ones. Sorted by base, then code.
// docs/search-index.md lists them.
var porticoSearchParams = loadPorticoSearchParams()

func loadPorticoSearchParams() []SearchParam {
	var out []SearchParam
	for _, r := range definitions.OfType("SearchParameter") {
		var sp struct {
			URL, Code, Type, Expression, Description string
			Base                                     []string
			Target                                   []string
		}
		if err := json.Unmarshal(r.JSON, &sp); err != nil {
			panic("definitions/package/" + r.File + ": " + err.Error()) // embedded, and tested
		}
		targets := slices.Sorted(slices.Values(sp.Target))
		for _, base := range sp.Base {
			out = append(out, SearchParam{Base: base, Code: sp.Code, Type: sp.Type, Expression: sp.Expression,
				Targets: targets, URL: sp.URL, Description: sp.Description})
		}
	}
	slices.SortFunc(out, func(a, b SearchParam) int {
		return cmp.Or(strings.Compare(a.Base, b.Base), strings.Compare(a.Code, b.Code))
	})
	return out
}

// PorticoSearchParams returns Portico's own search parameters defined on base.
func PorticoSearchParams(base string) []SearchParam {
	var out []SearchParam
	for _, sp := range porticoSearchParams {
		if sp.Base == base {
			out = append(out, sp)
		}
	}
	return out
}

func lookupPorticoParam(base, code string) *SearchParam {
	for i := range porticoSearchParams {
		if sp := &porticoSearchParams[i]; sp.Base == base && sp.Code == code {
			return sp
		}
	}
	return nil
}

// communicationPriorityRank orders Communication.priority by clinical urgency for _sort.
var communicationPriorityRank = map[string]string{"stat": "0", "asap": "1", "urgent": "2", "routine": "3"}

var allParams sync.Map // resource type → []*SearchParam

// AllSearchParams returns every search parameter of a resource type, sorted by code: those
// of Resource and DomainResource, those published for the type and Portico's own (a
// parameter of the type itself hides an inherited one of the same code). The slice is shared:
// do not modify it.
func AllSearchParams(resourceType string) []*SearchParam {
	if v, ok := allParams.Load(resourceType); ok {
		return v.([]*SearchParam)
	}
	var out []*SearchParam
	seen := map[string]bool{}
	for t := LookupType(resourceType); t != nil; t = LookupType(t.Base) {
		for i := range porticoSearchParams {
			if sp := &porticoSearchParams[i]; sp.Base == t.Name && !seen[sp.Code] {
				seen[sp.Code] = true
				out = append(out, sp)
			}
		}
		params := SearchParams(t.Name)
		for i := range params {
			if !seen[params[i].Code] {
				seen[params[i].Code] = true
				out = append(out, &params[i])
			}
		}
	}
	slices.SortFunc(out, func(a, b *SearchParam) int { return strings.Compare(a.Code, b.Code) })
	v, _ := allParams.LoadOrStore(resourceType, out)
	return v.([]*SearchParam)
}

var paramsByURL = sync.OnceValue(func() map[string]*SearchParam {
	m := map[string]*SearchParam{}
	for i := range searchParamTable {
		if _, ok := m[searchParamTable[i].URL]; !ok {
			m[searchParamTable[i].URL] = &searchParamTable[i]
		}
	}
	for i := range porticoSearchParams {
		m[porticoSearchParams[i].URL] = &porticoSearchParams[i]
	}
	return m
})

// LookupSearchParamURL returns a search parameter by its canonical URL (for a parameter of
// several bases, one of its entries), or nil.
func LookupSearchParamURL(url string) *SearchParam { return paramsByURL()[url] }
