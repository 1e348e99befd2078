package rules

// File is the JSON rule file as written on disk. Every field is documented in docs/triage.md.
type File struct {
	Version int `json:"version"`
	// Categories in precedence order: on a score tie the earlier one wins.
	Categories []CategoryDef `json:"categories"`
	// DefaultCategory is used when nothing matched and no symptom was found.
	DefaultCategory string `json:"default_category"`
	// SymptomCategory is the category every fired priority rule supports (weight SymptomWeight).
	SymptomCategory string  `json:"symptom_category"`
	SymptomWeight   float64 `json:"symptom_weight"`
	// NegatedSymptomWeight is what a negated or historical symptom still gives the symptom
	// category: "no chest pain since the new meds" is about symptoms, though not urgent.
	NegatedSymptomWeight float64 `json:"negated_symptom_weight"`
	// PatientHintCap is the highest priority a patient-supplied priority may raise a message to.
	PatientHintCap string               `json:"patient_hint_cap"`
	Fuzzy          FuzzyConfig          `json:"fuzzy"`
	Scope          ScopeConfig          `json:"scope"`
	Languages      map[string]*Language `json:"languages"`
	Measures       []Measure            `json:"measures"`
	Patterns       []Pattern            `json:"patterns"`
}

// CategoryDef is one code of the Portico message-category CodeSystem.
type CategoryDef struct {
	Code    string `json:"code"`
	Display string `json:"display"`
}

// FuzzyConfig sets the misspelling tolerance (Damerau edit distance 1) by word length.
type FuzzyConfig struct {
	MinLenEdit          int      `json:"min_len_edit"`          // any single edit from this length (default 6)
	MinLenTransposition int      `json:"min_len_transposition"` // adjacent swap only, from this length (default 4)
	Exclude             []string `json:"exclude"`               // real words never treated as misspellings
}

// ScopeConfig sets how far negation and context cues reach.
type ScopeConfig struct {
	Window int `json:"window"`  // tokens between the cue and the phrase (default 6)
	MaxGap int `json:"max_gap"` // tokens a "*" in a phrase may skip (default 3)
}

// Language holds one language's phrases. Keys of Priority are stat, asap, urgent; keys of Category
// are category codes.
type Language struct {
	Stopwords      []string           `json:"stopwords"`
	Variants       map[string]string  `json:"variants"` // misspelling -> word, applied before matching
	Negation       []string           `json:"negation"`
	PseudoNegation []string           `json:"pseudo_negation"`
	Historical     []string           `json:"historical"`      // before the phrase: "history of", "died of"
	HistoricalPost []string           `json:"historical_post"` // after the phrase: "years ago"
	Hypothetical   []string           `json:"hypothetical"`    // before the phrase: "what if", "signs of"
	Breakers       []string           `json:"breakers"`        // end a cue's scope: "but", "pero"
	Priority       map[string][]Group `json:"priority"`
	Category       map[string][]Group `json:"category"`
	Escalators     []Group            `json:"escalators"`
	Combos         []Combo            `json:"combos"`
}

// Group is a named list of phrases that supports one priority or category.
//
// Phrase syntax: words separated by spaces, matched on word boundaries after lower-casing and
// removing accents and apostrophes ("can't" is "cant"); "word*" matches any word starting with
// "word"; a lone "*" skips 0..max_gap words.
type Group struct {
	ID      string   `json:"id"`
	Phrases []string `json:"phrases"`
	// Except lists phrases that, when they cover a hit, cancel it ("seizure medicine").
	Except []string `json:"except,omitempty"`
	// Weight of a category group (default 1).
	Weight float64 `json:"weight,omitempty"`
	// Negatable is true unless set to false: a false group fires even under a negation or
	// context cue ("kill myself", "can't breathe").
	Negatable *bool `json:"negatable,omitempty"`
	// NegatedPriority, when set, is the priority a negated hit still carries ("not suicidal" is
	// still reviewed).
	NegatedPriority string `json:"negated_priority,omitempty"`
	// Escalators only: the priority they raise to, and whether a symptom must also be present.
	Priority        string `json:"priority,omitempty"`
	RequiresSymptom bool   `json:"requires_symptom,omitempty"`
	// Category an escalator or combo also supports (optional).
	Category string `json:"category,omitempty"`
}

// Combo fires when every one of its phrase lists has a hit that is not negated.
type Combo struct {
	ID       string     `json:"id"`
	All      [][]string `json:"all"`
	Priority string     `json:"priority"`
	Category string     `json:"category,omitempty"`
}

// Measure reads a number near a cue word (a temperature, a glucose reading) and maps it to a
// priority by bands.
type Measure struct {
	ID     string   `json:"id"`
	Cues   []string `json:"cues"`
	Window int      `json:"window"`
	Bands  []Band   `json:"bands"`
}

// Band is an inclusive numeric range and the priority it carries.
type Band struct {
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	Priority string  `json:"priority"`
}

// Pattern is a regular expression (Go RE2 syntax) run on the lower-cased, accent-free text.
type Pattern struct {
	ID       string `json:"id"`
	Regex    string `json:"regex"`
	Priority string `json:"priority,omitempty"`
	Category string `json:"category,omitempty"`
	// IfContains, when set, runs the expression only on texts containing one of these strings
	// (a cheap pre-filter; folded like the text).
	IfContains []string `json:"if_contains,omitempty"`
}
