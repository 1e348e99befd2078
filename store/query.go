package store

// Query is a parsed, backend-neutral search: the api package builds it from the request's
// parameters (with the fhir package's registry), and each backend compiles it into its own query
// language. Backends never parse FHIR: every value here is already typed and normalised.
//
// A resource matches when every clause of Where matches (AND); a clause matches when any of its
// values matches (OR, the comma of FHIR search).
type Query struct {
	Types  []string // resource types searched: one for a type search; several, or none for all, in a system search
	Where  []Clause
	Sort   []Sort // empty: the backend's stable default order (by type, then id)
	Count  int    // page size, > 0
	Cursor string // "" for the first page; else a Page.Next of the same query
	Total  bool   // compute Page.Total

	// MaxBytes, when > 0, ends the page early, with a Next cursor, once the bodies of its
	// records would pass MaxBytes (a page holds at least one record): what one request may
	// make the server hold in memory.
	MaxBytes int
}

// Clause is one search parameter with its values (OR), or a chain, or a reverse chain, or an
// OR of groups of clauses (AnyOf).
//
// Special parameters that backends evaluate on their own columns: "_id" (KindToken, Code = id),
// "_type" (KindToken, Code = a resource type; no modifier: it makes a condition of an AnyOf
// group hold for one type only, as the guard needs in a search of several types) and
// "_lastUpdated" (KindDate). Every other parameter is matched against the IndexEntry
// values with the same Param extracted at write time.
type Clause struct {
	Param    string
	Kind     ParamKind
	Modifier Modifier
	Values   []Value // OR; empty only for ModMissing, Chain and Has

	// Missing is the value of :missing (ModMissing): true matches resources with no entry for
	// Param, false those with at least one.
	Missing bool

	// Chain makes a reference clause match when the referenced resource matches Chain
	// (subject:Patient.name=smith). Chain.Types are the allowed target types.
	Chain *Query

	// Has is a reverse chain (_has:Observation:patient:code=x): the resource matches when some
	// resource of Has.Type refers to it through Has.Param and matches Has.Where.
	Has *Has

	// AnyOf, when not nil, makes the clause an OR of groups: it matches when every clause of
	// at least one group matches (an empty AnyOf matches nothing; groups may nest AnyOf).
	// Param, Kind, Values and the other fields are then unused. The smart package expresses a
	// token's reach this way: Observation in a patient's compartment by subject OR performer.
	AnyOf [][]Clause

	// Reach marks the clause that confines a search to what its caller may see (the guard
	// adds it). A store may drive the search by it where it would otherwise walk every
	// resource of the searched types: the search then costs what the caller's own data costs,
	// however much of others' data matches its other criteria.
	Reach bool
}

// Has is the reverse chain of a _has clause.
type Has struct {
	Type  string   // the referring type, e.g. Observation
	Param string   // its reference parameter pointing at the searched resource, e.g. patient
	Where []Clause // what the referring resource must match (may nest another Has)
}

// Modifier is a search modifier (the part after ':' in a parameter name).
type Modifier uint8

const (
	ModNone       Modifier = iota
	ModMissing             // :missing
	ModExact               // string :exact (case- and accent-sensitive, whole value)
	ModContains            // string :contains (substring of the normalised value)
	ModText                // token :text (starts-with on the normalised display/text)
	ModNot                 // token :not (no entry of Param matches the value)
	ModBelow               // uri :below (the stored URI starts with the value)
	ModAbove               // uri :above (the value starts with the stored URI)
	ModOfType              // identifier :of-type (System/Code = the type coding, Text = the value); matched against entries with Param "<param>:of-type"
	ModIdentifier          // reference :identifier (System/Code = the identifier of the reference)
)

// Prefix is a comparison prefix of date, number and quantity values.
type Prefix uint8

const (
	PrefixEq Prefix = iota // eq: the default
	PrefixNe
	PrefixGt
	PrefixLt
	PrefixGe
	PrefixLe
	PrefixSa
	PrefixEb
	PrefixAp
)

// Value is one value of a clause, already parsed for its kind.
type Value struct {
	// Token: "code" (any system), "system|code", "|code" (no system), "system|" (any code).
	// Quantity: the unit's System and Code (AnySystem/AnyCode when not given).
	// Reference with ModIdentifier, identifier with ModOfType: the identifier or type token.
	System    string
	Code      string
	AnySystem bool
	AnyCode   bool

	// String (normalised for the default and :contains, as written for :exact), URI, the
	// identifier value for :of-type, and the normalised text for token :text.
	Text string

	// Reference: the target's type and id for a local reference ("Patient/123", or a bare id
	// with Type "" meaning any type, or a type with ID "" meaning any resource of that type:
	// the policy's "names no patient", actor:not Patient), or URL for an absolute reference to
	// another server.
	RefType, RefID, RefURL string

	// Date, number, quantity: the search value as a range [Low, High) — the implicit range of
	// its precision (2020 is the whole year; 100 is [99.5, 100.5)) — compared with the
	// target's range according to Prefix (see Prefix.Matches). Dates are unix milliseconds.
	Prefix    Prefix
	Low, High float64

	// Composite: one value per component, in the order of the parameter's components.
	Components []Value
}

// Sort is one key of _sort. Ascending order uses the smallest SortKey of the resource's entries
// for Param, descending the largest; resources without an entry come last either way.
type Sort struct {
	Param string // "_id" and "_lastUpdated" are columns; others use IndexEntry.SortKey
	Desc  bool
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

// IndexEntry is one searchable value extracted from a resource version at write time by the
// fhir package. Backends store the entries beside the version and evaluate clauses on them.
type IndexEntry struct {
	Param string
	Kind  ParamKind

	// Token: the coding/identifier System and Code, Text the normalised display or text.
	// Quantity: the unit System and Code. String: Code holds the value as written.
	System, Code string

	// String: the normalised value (lower case, accents removed). URI: the URI. Token: the
	// normalised display/text (for :text).
	Text string

	// Reference: the target type and id of a local reference, URL for an absolute one;
	// System/Code may carry Reference.identifier for :identifier.
	RefType, RefID, RefURL string

	// Date, number, quantity: the value's range [Low, High); dates as unix milliseconds.
	Low, High float64

	// Composite: the component entries, in the parameter's component order.
	Components []IndexEntry

	// SortKey orders resources for _sort on Param, compared bytewise. The fhir package builds
	// it so that order is meaningful (dates, numbers and quantities as 16 hex digits of an
	// order-preserving encoding of Low; strings normalised; Communication.priority by clinical
	// urgency). A token with a Code has a SortKey, and it is the Code unless the parameter
	// ranks its codes (Communication.priority) in every resource: a backend may then read a
	// token's key from its Code (SQLite keeps no sort row for it).
	SortKey string
}

// Matches reports whether a target range [tl, th) satisfies the search range [sl, sh) under
// prefix p, as FHIR R4 search defines for dates, numbers and quantities (search.html#prefix).
// Backends implement the same conditions in their query languages; this function is their
// reference and is table-tested.
func (p Prefix) Matches(sl, sh, tl, th float64) bool {
	contains := sl <= tl && th <= sh
	switch p {
	case PrefixEq:
		return contains
	case PrefixNe:
		return !contains
	case PrefixGt:
		return th > sh
	case PrefixLt:
		return tl < sl
	case PrefixGe:
		return th > sh || contains
	case PrefixLe:
		return tl < sl || contains
	case PrefixSa:
		return tl >= sh
	case PrefixEb:
		return th <= sl
	case PrefixAp:
		// Approximately: the ranges overlap once the search range is widened by 10% of its
		// value on each side (at least its own width).
		w := 0.1 * max(abs(sl), abs(sh))
		w = max(w, sh-sl)
		return tl < sh+w && th > sl-w
	}
	return false
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
