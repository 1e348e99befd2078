package fhir

import "github.com/portico-health/portico/store"

// IndexEntries extracts the search index entries of a resource version.
//
// For now it extracts the `identifier` token of every resource type (what conditional create,
// update and delete need); the search-parameter extractor of the search API replaces it.
func IndexEntries(r *Resource) []store.IndexEntry {
	ids := r.Root.Get("identifier")
	if ids == nil {
		return nil
	}
	var out []store.IndexEntry
	add := func(id *Value) {
		value := id.Get("value")
		if value == nil || value.Kind != String {
			return
		}
		e := store.IndexEntry{Param: "identifier", Kind: store.KindToken, Code: value.Text}
		if sys := id.Get("system"); sys != nil && sys.Kind == String {
			e.System = sys.Text
		}
		out = append(out, e)
	}
	switch ids.Kind {
	case Array:
		for i := range ids.Arr {
			add(&ids.Arr[i])
		}
	case Object: // resources whose identifier is 0..1 (e.g. Bundle, QuestionnaireResponse)
		add(ids)
	}
	return out
}
