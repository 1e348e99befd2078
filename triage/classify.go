package triage

import (
	"strconv"
	"strings"

	"github.com/portico-health/portico/triage/rules"
)

// Classify returns the priority, category and reasons for m under r (nil means the shipped
// defaults). It is pure and deterministic, and safe to call concurrently.
//
// Priority is the most urgent signal found: a fired phrase, escalator, combination, measure or
// pattern, raised by the patient's own priority up to the rules' patient_hint_cap, never lowered.
// Category is the highest-scoring category (each rule group counts once); on a tie the one listed
// first in the rule file wins; with no category signal a message with symptoms is the symptom
// category and anything else the default category.
func Classify(r *rules.Rules, m Message) Result {
	if r == nil {
		r = rules.Default()
	}
	c := classifier{r: r, groups: r.Groups(), scores: map[string]float64{}, counted: map[string]bool{},
		combos: map[string][]string{}}
	c.field(FieldText, m.Text)
	textToks := c.toks
	c.field(FieldTopic, m.Topic)
	for _, s := range m.ReasonCodes {
		c.field(FieldReasonCode, s)
	}
	for _, s := range m.AttachmentTitles {
		c.field(FieldAttachment, s)
	}
	c.finishCombos()
	for _, e := range c.escalators {
		if !c.groups[e.group].RequiresSymptom || c.symptom {
			c.raise(e.reason)
		}
	}
	c.hint(m.PatientPriorityHint)

	res := Result{Priority: c.level, Category: c.category(), Reasons: c.reasons}
	if l := strings.ToLower(m.Language); l != "" {
		res.Language, _, _ = strings.Cut(l, "-")
	} else {
		res.Language = detectLanguage(r, textToks)
	}
	return res
}

type pendingEscalator struct {
	group  int
	reason Reason
}

type classifier struct {
	r          *rules.Rules
	groups     []rules.CompiledGroup
	level      Priority
	symptom    bool
	scores     map[string]float64
	counted    map[string]bool     // category contributions already made, by rule
	scored     []scoredSpan        // and the words they were made on
	combos     map[string][]string // combo id -> matched text per part
	escalators []pendingEscalator
	reasons    []Reason
	toks       []rules.Token
}

func (c *classifier) raise(rs Reason) {
	if rs.Priority > c.level {
		c.level = rs.Priority
	}
	c.reasons = append(c.reasons, rs)
}

type scoredSpan struct {
	field, category string
	start, end      int
}

// score adds weight to category once per rule, and once per stretch of words: "pain" inside
// "chest pain", or a word two languages share, counts once.
func (c *classifier) score(rule, category string, weight float64, field string, start, end int) {
	if category == "" || c.counted[rule] {
		return
	}
	for _, s := range c.scored {
		if s.category == category && s.field == field && start < s.end && s.start < end {
			return
		}
	}
	c.counted[rule] = true
	c.scored = append(c.scored, scoredSpan{field, category, start, end})
	c.scores[category] += weight
}

func (c *classifier) field(name, text string) {
	if strings.TrimSpace(text) == "" {
		return
	}
	c.toks = rules.Tokenize(text, nil)
	toks := c.toks
	for _, h := range c.r.Match(toks) {
		g := &c.groups[h.Group]
		rs := Reason{Rule: g.ID, Field: name, Matched: text[toks[h.Start].Start:toks[h.End-1].End]}
		set := (h.Negated || h.Context) && g.Negatable
		key := g.Lang + "/" + g.ID
		if set {
			rs.Negated, rs.Cue = true, h.Cue
		}
		switch g.Kind {
		case rules.KindPriority:
			rs.Kind = "priority"
			if set {
				if g.NegatedPriority >= 0 {
					rs.Priority = g.NegatedPriority
				}
				c.score(key+"/negated", c.r.File.SymptomCategory, c.r.File.NegatedSymptomWeight, name, h.Start, h.End)
				c.raise(rs)
				continue
			}
			rs.Priority = g.Priority
			c.symptom = true
			if g.Category != "" {
				rs.Category = g.Category
				c.score(key, g.Category, g.Weight, name, h.Start, h.End)
			} else {
				rs.Category = c.r.File.SymptomCategory
				c.score(key, rs.Category, c.r.File.SymptomWeight, name, h.Start, h.End)
			}
			c.raise(rs)
		case rules.KindEscalator:
			rs.Kind, rs.Priority = "escalator", g.Priority
			if set {
				c.reasons = append(c.reasons, rs)
				continue
			}
			c.escalators = append(c.escalators, pendingEscalator{h.Group, rs})
		case rules.KindCategory:
			// only a negation sets a category phrase aside: "my father died of a heart attack,
			// I want an appointment" is still an appointment
			rs.Kind, rs.Category = "category", g.Category
			rs.Negated = h.Negated && g.Negatable
			if !rs.Negated {
				rs.Cue = ""
				c.score(key, g.Category, g.Weight, name, h.Start, h.End)
			}
			c.reasons = append(c.reasons, rs)
		case rules.KindComboPart:
			if set {
				continue
			}
			key := g.Lang + "\x00" + g.ID
			parts := c.combos[key]
			if parts == nil {
				parts = make([]string, len(c.r.File.Languages[g.Lang].Combos[g.Combo].All))
				c.combos[key] = parts
			}
			if parts[g.Part] == "" {
				parts[g.Part] = rs.Matched
			}
		case rules.KindMeasureCue:
			if !set {
				c.measure(g, h, toks, text, name)
			}
		}
	}
	folded := rules.Fold(text)
	for _, p := range c.r.Patterns {
		if !containsAny(folded, p.IfContains) {
			continue
		}
		loc := p.Re.FindStringIndex(folded)
		if loc == nil {
			continue
		}
		rs := Reason{Rule: p.ID, Kind: "pattern", Field: name, Matched: folded[loc[0]:loc[1]], Category: p.Category}
		if p.HasLevel {
			rs.Priority = p.Level
		}
		c.score("pattern/"+p.ID, p.Category, 2, name, -1, -1)
		c.raise(rs)
	}
}

// measure reads the numbers within the measure's window of a cue and applies its bands.
func (c *classifier) measure(g *rules.CompiledGroup, h rules.Hit, toks []rules.Token, text, field string) {
	ms := c.r.File.Measures[g.Measure]
	w := ms.Window
	if w == 0 {
		w = 5
	}
	clause := toks[h.Start].Clause
	for i := max(0, h.Start-w); i < len(toks) && i < h.End+w; i++ {
		if toks[i].Clause != clause || i >= h.Start && i < h.End {
			continue
		}
		v, ok := number(toks[i].Text)
		if !ok {
			continue
		}
		for _, b := range ms.Bands {
			if v >= b.Min && v <= b.Max {
				p, _ := rules.ParsePriority(b.Priority)
				lo, hi := min(h.Start, i), max(h.End-1, i)
				c.symptom = true
				c.raise(Reason{Rule: ms.ID, Kind: "measure", Field: field, Matched: text[toks[lo].Start:toks[hi].End],
					Priority: p, Category: c.r.File.SymptomCategory})
				c.score("measure/"+ms.ID, c.r.File.SymptomCategory, c.r.File.SymptomWeight, field, -1, -1)
				break
			}
		}
	}
}

// number parses a numeric token, ignoring a trailing unit or plural ("300s", "101f").
func number(s string) (float64, bool) {
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	if end == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s[:end], 64)
	return v, err == nil
}

func (c *classifier) finishCombos() {
	for _, l := range sortedLangs(c.r) {
		for _, co := range c.r.File.Languages[l].Combos {
			parts := c.combos[l+"\x00"+co.ID]
			if parts == nil || len(parts) != len(co.All) {
				continue
			}
			all := true
			for _, p := range parts {
				all = all && p != ""
			}
			if !all {
				continue
			}
			p, _ := rules.ParsePriority(co.Priority)
			c.symptom = c.symptom || co.Category == ""
			c.score("combo/"+l+"/"+co.ID, co.Category, 2, FieldText, -1, -1)
			c.raise(Reason{Rule: co.ID, Kind: "combo", Field: FieldText, Matched: strings.Join(parts, " + "),
				Priority: p, Category: co.Category})
		}
	}
}

func (c *classifier) hint(code string) {
	if code == "" {
		return
	}
	p, ok := rules.ParsePriority(strings.ToLower(strings.TrimSpace(code)))
	if !ok {
		return
	}
	rs := Reason{Rule: "patient-hint", Kind: "hint", Field: FieldHint, Matched: code}
	capP := Stat
	if c.r.File.PatientHintCap != "" {
		capP, _ = rules.ParsePriority(c.r.File.PatientHintCap)
	}
	rs.Priority = min(p, capP)
	c.raise(rs)
}

func (c *classifier) category() string {
	best, bestScore := "", 0.0
	for _, cd := range c.r.File.Categories {
		if s := c.scores[cd.Code]; s > bestScore {
			best, bestScore = cd.Code, s
		}
	}
	switch {
	case best != "":
		return best
	case c.symptom || c.level > Routine:
		return c.r.File.SymptomCategory
	default:
		return c.r.File.DefaultCategory
	}
}

func sortedLangs(r *rules.Rules) []string {
	ls := make([]string, 0, len(r.File.Languages))
	for l := range r.File.Languages {
		ls = append(ls, l)
	}
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j] < ls[j-1]; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
	return ls
}

func containsAny(s string, subs []string) bool {
	if len(subs) == 0 {
		return true
	}
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
