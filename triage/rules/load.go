package rules

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

//go:embed default.json
var defaultJSON []byte

// DefaultJSON returns the shipped rule file.
func DefaultJSON() []byte { return bytes.Clone(defaultJSON) }

// Rules is a validated, compiled rule file. It is immutable and safe for concurrent use.
type Rules struct {
	File     File
	m        matcher
	Patterns []CompiledPattern
	Stop     map[string]map[string]bool // language -> stopword set
}

// CompiledPattern is a Pattern with its regular expression compiled.
type CompiledPattern struct {
	Pattern
	Re       *regexp.Regexp
	Level    Priority
	HasLevel bool
}

// Groups returns the compiled groups; Hit.Group indexes it.
func (r *Rules) Groups() []CompiledGroup { return r.m.groups }

// Load reads and validates the rule file at path; an empty path loads the shipped defaults.
func Load(path string) (*Rules, error) {
	if path == "" {
		return Parse(defaultJSON)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("triage rules: %w", err)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("triage rules %s: %w", path, err)
	}
	return r, nil
}

var defaultRules = func() *Rules {
	r, err := Parse(defaultJSON)
	if err != nil {
		panic("triage: shipped default.json is invalid: " + err.Error())
	}
	return r
}()

// Default returns the compiled shipped rules.
func Default() *Rules { return defaultRules }

// Problems is every problem found in a rule file.
type Problems []string

func (p Problems) Error() string {
	return fmt.Sprintf("%d problem(s) in rule file:\n  %s", len(p), strings.Join(p, "\n  "))
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid triage rules")

// Parse decodes, validates and compiles a rule file. Unknown fields are errors. A validation
// failure returns an error that wraps ErrInvalid and, via errors.As, a Problems listing everything.
func Parse(data []byte) (*Rules, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c := compiler{r: &Rules{File: f}}
	c.compile()
	if len(c.problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, c.problems)
	}
	return c.r, nil
}

type compiler struct {
	r        *Rules
	problems Problems
	cats     map[string]bool
}

func (c *compiler) bad(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *compiler) priority(where, code string) Priority {
	p, ok := ParsePriority(code)
	if !ok {
		c.bad("%s: unknown priority %q (want routine, urgent, asap or stat)", where, code)
	}
	return p
}

func (c *compiler) category(where, code string) {
	if code != "" && !c.cats[code] {
		c.bad("%s: unknown category %q", where, code)
	}
}

func (c *compiler) compile() {
	f := &c.r.File
	m := &c.r.m
	*m = matcher{vocab: map[string]int32{}, byFirst: map[int32][]int{}, exclude: map[string]bool{},
		variants: map[string]string{}, fuzzy: f.Fuzzy, scope: f.Scope}
	if f.Version != 1 {
		c.bad("version: want 1, got %d", f.Version)
	}
	if m.fuzzy.MinLenEdit == 0 {
		m.fuzzy.MinLenEdit = 6
	}
	if m.fuzzy.MinLenTransposition == 0 {
		m.fuzzy.MinLenTransposition = 4
	}
	if m.scope.Window == 0 {
		m.scope.Window = 6
	}
	if m.scope.MaxGap == 0 {
		m.scope.MaxGap = 3
	}
	for _, w := range f.Fuzzy.Exclude {
		m.exclude[Fold(w)] = true
	}
	c.cats = map[string]bool{}
	for i, cd := range f.Categories {
		if cd.Code == "" {
			c.bad("categories[%d]: empty code", i)
		}
		if c.cats[cd.Code] {
			c.bad("categories[%d]: duplicate code %q", i, cd.Code)
		}
		c.cats[cd.Code] = true
	}
	if len(f.Categories) == 0 {
		c.bad("categories: none defined")
	}
	if f.DefaultCategory == "" || f.SymptomCategory == "" {
		c.bad("default_category and symptom_category are required")
	}
	c.category("default_category", f.DefaultCategory)
	c.category("symptom_category", f.SymptomCategory)
	if f.PatientHintCap != "" {
		c.priority("patient_hint_cap", f.PatientHintCap)
	}
	if len(f.Languages) == 0 {
		c.bad("languages: none defined")
	}
	c.r.Stop = map[string]map[string]bool{}
	langs := make([]string, 0, len(f.Languages))
	for l := range f.Languages {
		langs = append(langs, l)
	}
	sort.Strings(langs) // deterministic ids
	for _, l := range langs {
		if lang := f.Languages[l]; lang != nil {
			for k, v := range lang.Variants {
				if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
					c.bad("languages.%s.variants: empty variant %q -> %q", l, k, v)
					continue
				}
				m.variants[Fold(k)] = Fold(v)
			}
		}
	}
	for _, l := range langs {
		c.language(l, f.Languages[l])
	}
	for i, ms := range f.Measures {
		where := fmt.Sprintf("measures[%d] %s", i, ms.ID)
		if ms.ID == "" {
			c.bad("measures[%d]: empty id", i)
		}
		if len(ms.Bands) == 0 {
			c.bad("%s: no bands", where)
		}
		for j, b := range ms.Bands {
			c.priority(fmt.Sprintf("%s bands[%d]", where, j), b.Priority)
			if b.Max < b.Min {
				c.bad("%s bands[%d]: max %v < min %v", where, j, b.Max, b.Min)
			}
		}
		g := c.group(CompiledGroup{ID: ms.ID, Kind: KindMeasureCue, Measure: i, Negatable: true, NegatedPriority: -1})
		c.phrases(where+" cues", ms.Cues, g, false)
	}
	for i, p := range f.Patterns {
		where := fmt.Sprintf("patterns[%d] %s", i, p.ID)
		cp := CompiledPattern{Pattern: p}
		re, err := regexp.Compile(p.Regex)
		if err != nil {
			c.bad("%s: bad regex: %v", where, err)
		}
		cp.Re = re
		if p.Priority != "" {
			cp.Level, cp.HasLevel = c.priority(where, p.Priority), true
		}
		c.category(where, p.Category)
		if p.Priority == "" && p.Category == "" {
			c.bad("%s: needs a priority or a category", where)
		}
		c.r.Patterns = append(c.r.Patterns, cp)
	}
	m.buildFuzzy()
}

func (c *compiler) group(g CompiledGroup) int {
	c.r.m.groups = append(c.r.m.groups, g)
	return len(c.r.m.groups) - 1
}

func (c *compiler) phrases(where string, ps []string, g int, exact bool) {
	if len(ps) == 0 {
		c.bad("%s: no phrases", where)
	}
	for i, p := range ps {
		if strings.TrimSpace(p) == "" {
			c.bad("%s[%d]: empty phrase", where, i)
			continue
		}
		if !c.r.m.addPhrase(p, g, exact) {
			c.bad("%s[%d] %q: a phrase needs a word and cannot start or end with \"*\"", where, i, p)
		}
	}
}

func (c *compiler) language(l string, lang *Language) {
	if lang == nil {
		c.bad("languages.%s: null", l)
		return
	}
	stop := map[string]bool{}
	for _, w := range lang.Stopwords {
		stop[Fold(w)] = true
	}
	c.r.Stop[l] = stop
	cues := []struct {
		name string
		list []string
		kind Kind
	}{
		{"negation", lang.Negation, KindNegation},
		{"pseudo_negation", lang.PseudoNegation, KindPseudoNegation},
		{"historical", lang.Historical, KindHistorical},
		{"historical_post", lang.HistoricalPost, KindHistoricalPost},
		{"hypothetical", lang.Hypothetical, KindHypothetical},
		{"breakers", lang.Breakers, KindBreaker},
	}
	for _, cu := range cues {
		if len(cu.list) == 0 {
			continue
		}
		g := c.group(CompiledGroup{ID: cu.name, Lang: l, Kind: cu.kind})
		c.phrases(fmt.Sprintf("languages.%s.%s", l, cu.name), cu.list, g, true)
	}
	for _, level := range sortedKeys(lang.Priority) {
		p, ok := ParsePriority(level)
		if !ok || p == Routine {
			c.bad("languages.%s.priority: unknown key %q (want stat, asap or urgent)", l, level)
			continue
		}
		for i, gr := range lang.Priority[level] {
			where := fmt.Sprintf("languages.%s.priority.%s[%d] %s", l, level, i, gr.ID)
			cg := c.base(where, l, gr, KindPriority)
			cg.Priority = p
			c.add(where, gr, cg)
		}
	}
	for _, cat := range sortedKeys(lang.Category) {
		c.category(fmt.Sprintf("languages.%s.category", l), cat)
		for i, gr := range lang.Category[cat] {
			where := fmt.Sprintf("languages.%s.category.%s[%d] %s", l, cat, i, gr.ID)
			cg := c.base(where, l, gr, KindCategory)
			cg.Category = cat
			c.add(where, gr, cg)
		}
	}
	for i, gr := range lang.Escalators {
		where := fmt.Sprintf("languages.%s.escalators[%d] %s", l, i, gr.ID)
		cg := c.base(where, l, gr, KindEscalator)
		cg.Priority = c.priority(where, gr.Priority)
		cg.RequiresSymptom = gr.RequiresSymptom
		c.add(where, gr, cg)
	}
	for i, co := range lang.Combos {
		where := fmt.Sprintf("languages.%s.combos[%d] %s", l, i, co.ID)
		if co.ID == "" {
			c.bad("%s: empty id", where)
		}
		pr := c.priority(where, co.Priority)
		c.category(where, co.Category)
		if len(co.All) < 2 {
			c.bad("%s: \"all\" needs at least two phrase lists", where)
		}
		for j, list := range co.All {
			g := c.group(CompiledGroup{ID: co.ID, Lang: l, Kind: KindComboPart, Priority: pr, Category: co.Category,
				Combo: i, Part: j, Negatable: true, NegatedPriority: -1})
			c.phrases(fmt.Sprintf("%s.all[%d]", where, j), list, g, false)
		}
	}
}

func (c *compiler) base(where, l string, gr Group, k Kind) CompiledGroup {
	if gr.ID == "" {
		c.bad("%s: empty id", where)
	}
	cg := CompiledGroup{ID: gr.ID, Lang: l, Kind: k, Weight: gr.Weight, Negatable: gr.Negatable == nil || *gr.Negatable,
		NegatedPriority: -1, Category: gr.Category}
	if cg.Weight == 0 {
		cg.Weight = 1
	}
	if cg.Weight < 0 {
		c.bad("%s: negative weight", where)
	}
	if gr.NegatedPriority != "" {
		cg.NegatedPriority = c.priority(where+" negated_priority", gr.NegatedPriority)
	}
	if k != KindEscalator && gr.Priority != "" {
		c.bad("%s: \"priority\" is only for escalators", where)
	}
	c.category(where, gr.Category)
	return cg
}

func (c *compiler) add(where string, gr Group, cg CompiledGroup) {
	g := c.group(cg)
	c.phrases(where, gr.Phrases, g, false)
	if len(gr.Except) > 0 {
		e := c.group(CompiledGroup{ID: gr.ID + "/except", Lang: cg.Lang, Kind: KindExcept, Owner: g})
		c.phrases(where+" except", gr.Except, e, false)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
