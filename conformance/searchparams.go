package conformance

import (
	"slices"
	"strings"

	"github.com/portico-health/portico/fhir"
)

// R4SearchParams lists every R4 search parameter of a resource type, including those all
// resources have (_id, _lastUpdated, ...) and those the fhir package adds, sorted by name: the
// Description.SearchParams of a server that evaluates every parameter of the registry, as
// Portico's search does.
func R4SearchParams(resourceType string) []SearchParam {
	var out []SearchParam
	for t := fhir.LookupType(resourceType); t != nil; t = fhir.LookupType(t.Base) {
		for _, sp := range fhir.SearchParams(t.Name) {
			out = append(out, SearchParam{Name: sp.Code, Definition: sp.URL, Type: sp.Type})
		}
	}
	slices.SortFunc(out, func(a, b SearchParam) int { return strings.Compare(a.Name, b.Name) })
	return out
}
