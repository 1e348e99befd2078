package conformance

import "github.com/portico-health/portico/fhir"

// R4SearchParams lists the search parameters Portico evaluates for a resource type, sorted by
// name: every R4 parameter of the type and of the types it derives from (_id, _lastUpdated, ...)
// and Portico's own (Communication priority and due), less those the index extractor skips
// (e.g. Location near): the Description.SearchParams of Portico's search.
func R4SearchParams(resourceType string) []SearchParam {
	var out []SearchParam
	for _, sp := range fhir.AllSearchParams(resourceType) {
		if fhir.Searchable(sp) {
			out = append(out, SearchParam{Name: sp.Code, Definition: sp.URL, Type: sp.Type})
		}
	}
	return out
}
