package store

// Query is a parsed, backend-neutral search: the api and fhir packages build it, each backend
// compiles it into its own query language. It is an AND of clauses, each an OR of values.
//
// This is the seed of the search model: until the full search API lands it carries what
// conditional create, update and delete need (_id and token parameters such as identifier).
type Query struct {
	Type   string   // the resource type searched; required
	Where  []Clause // all must hold
	Count  int      // page size, > 0
	Cursor string   // "" for the first page; else a Page.Next from the same query
	Total  bool     // compute Page.Total
}

// Clause is one search parameter with its values; a resource matches when any value matches.
type Clause struct {
	Param  string    // search parameter code: "_id", "identifier", ...
	Kind   ParamKind // how values compare
	Values []Value
}

// Value is one value of a clause, already parsed for its kind.
type Value struct {
	// Token values: "code" (any system), "system|code", "|code" (no system), "system|" (any code).
	System    string
	Code      string
	AnySystem bool // no system given: match whatever the system is
	AnyCode   bool // "system|": match every code of System
}

// ParamKind is the type of a search parameter (FHIR R4 SearchParameter.type).
type ParamKind uint8

const (
	KindToken ParamKind = iota + 1
	KindString
	KindReference
	KindDate
	KindNumber
	KindQuantity
	KindURI
	KindComposite
	KindSpecial
)

// IndexEntry is one searchable value extracted from a resource version at write time.
// Backends store entries beside the version and evaluate Query clauses against them.
type IndexEntry struct {
	Param  string    // search parameter code
	Kind   ParamKind // KindToken for now
	System string    // token system ("" when the value has none)
	Code   string    // token code or identifier value
}
