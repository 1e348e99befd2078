package fhir

import (
	"slices"
	"strings"
	"sync"
)

// porticoSearchParams are Portico's own search parameters, beyond those R4 publishes. They are
// merged into LookupSearchParam and AllSearchParams and extracted like the published ones.
// Sorted by base, then code. docs/search-index.md lists them.
var porticoSearchParams = []SearchParam{
	{Base: "Communication", Code: "due", Type: "date",
		Expression:  "Communication.extension('http://portico.health/fhir/StructureDefinition/triage-due').value.ofType(dateTime)",
		URL:         "https://portico.health/fhir/SearchParameter/Communication-due",
		Description: "When a triaged patient message is due for an answer (extension triage-due); sortable: _sort=priority,due"},
	{Base: "Communication", Code: "priority", Type: "token", Expression: "Communication.priority",
		URL:         "https://portico.health/fhir/SearchParameter/Communication-priority",
		Description: "The urgency of the communication (routine | urgent | asap | stat); _sort=priority orders stat first"},
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
