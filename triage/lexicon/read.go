package lexicon

import (
	"slices"
)

// Finding is one concept found in a message, with its context in the manner of NegEx and
// ConText (Chapman et al.): a cue of the same clause, within a window of words, says the
// concept is denied, in the past, hypothetical, someone else's, or paperwork.
type Finding struct {
	Concept    string
	Lang       string // the lexicon whose phrase matched
	Start, End int    // tokens [Start, End)
	Text       string // the words as written

	Negated      bool
	Historical   bool
	Hypothetical bool
	Family       bool
	Form         bool
	Cue          string // the words of the cue that set a modifier, as written
}

// Affirmed reports whether the finding is stated as the patient's, now: none of the modifiers.
func (f Finding) Affirmed() bool {
	return !f.Negated && !f.Historical && !f.Hypothetical && !f.Family && !f.Form
}

// Modifier names the first modifier set ("" when affirmed).
func (f Finding) Modifier() string {
	switch {
	case f.Negated:
		return "negated"
	case f.Historical:
		return "historical"
	case f.Hypothetical:
		return "hypothetical"
	case f.Family:
		return "family"
	case f.Form:
		return "form"
	}
	return ""
}

// Reading is what a message says, as the lexicons read it.
type Reading struct {
	Text       string
	Tokens     []Token
	Findings   []Finding
	Quantities []Quantity
}

// Has reports whether concept id is found affirmed.
func (r *Reading) Has(id string) bool {
	for _, f := range r.Findings {
		if f.Concept == id && f.Affirmed() {
			return true
		}
	}
	return false
}

// Windows, in half-words: a CJK or Hangul character counts one, a word two.
const (
	negationWindow = 12 // six words
	contextWindow  = 16 // eight words
)

// Read finds the concepts of the languages langs (and their cues) in text, with their context,
// and the quantities it gives.
func (l *Lexicons) Read(text string, langs []string) Reading {
	toks := Tokenize(text, nil)
	active := map[string]bool{}
	for _, lg := range langs {
		active[lg] = true
	}
	hits := l.m.find(toks, active)
	var concepts, exclusions []hit
	cues := map[string][]hit{}
	for _, h := range hits {
		p := &l.m.phrases[h.phrase]
		switch p.kind {
		case kindConcept:
			concepts = append(concepts, h)
		case kindExclusion:
			exclusions = append(exclusions, h)
		case kindCue:
			cues[l.m.idOf(p)] = append(cues[l.m.idOf(p)], h)
		}
	}
	r := Reading{Text: text, Tokens: toks}
	// One finding a concept and a place: the longest phrase that starts there.
	slices.SortStableFunc(concepts, func(a, b hit) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	})
	covered := map[string]int{} // concept -> end of the last finding kept
	for _, h := range concepts {
		p := &l.m.phrases[h.phrase]
		id := l.m.idOf(p)
		if end, ok := covered[id]; ok && h.start < end {
			continue
		}
		covered[id] = h.end
		if slices.ContainsFunc(exclusions, func(x hit) bool {
			return l.m.phrases[x.phrase].id == p.id && x.start <= h.start && h.end <= x.end
		}) {
			continue
		}
		f := Finding{Concept: id, Lang: l.m.langOf(p), Start: h.start, End: h.end, Text: span(text, toks, h.start, h.end)}
		c := context{toks: toks, text: text, cues: cues, h: h}
		if cue, ok := c.before(CueNegationPre, negationWindow, true); ok {
			f.Negated, f.Cue = true, cue
		} else if cue, ok := c.after(CueNegationPost, negationWindow); ok {
			f.Negated, f.Cue = true, cue
		}
		if cue, ok := c.before(CueHistoricalPre, contextWindow, false); ok && !c.recentBetween() {
			f.Historical, f.Cue = true, orCue(f.Cue, cue)
		} else if cue, ok := c.after(CueHistoricalPost, contextWindow); ok {
			f.Historical, f.Cue = true, orCue(f.Cue, cue)
		}
		if cue, ok := c.before(CueHypothetical, contextWindow, false); ok {
			f.Hypothetical, f.Cue = true, orCue(f.Cue, cue)
		}
		if cue, ok := c.before(CueFamily, contextWindow, false); ok {
			f.Family, f.Cue = true, orCue(f.Cue, cue)
		}
		if cue, ok := c.inClause(CueForm); ok {
			f.Form, f.Cue = true, orCue(f.Cue, cue)
		}
		r.Findings = append(r.Findings, f)
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int { return a.Start - b.Start })
	r.Quantities = l.quantities(text, toks, r.Findings)
	return r
}

func orCue(have, cue string) string {
	if have != "" {
		return have
	}
	return cue
}

// span is the original text of tokens [start, end).
func span(text string, toks []Token, start, end int) string {
	if start >= end {
		return ""
	}
	return text[toks[start].Start:toks[end-1].End]
}

// context looks for cues around one concept hit.
type context struct {
	toks []Token
	text string
	cues map[string][]hit
	h    hit
}

// distance is the length of tokens [from, to) in half-words.
func (c *context) distance(from, to int) int {
	d := 0
	for i := from; i < to && i < len(c.toks); i++ {
		if c.toks[i].Char {
			d++
		} else {
			d += 2
		}
	}
	return d
}

// terminated reports whether a termination cue lies in tokens [from, to).
func (c *context) terminated(from, to int) bool {
	for _, t := range c.cues[CueTermination] {
		if t.start >= from && t.end <= to {
			return true
		}
	}
	return false
}

// before finds a cue of list id starting before the hit, in its clause, within window, with
// no termination cue between; for negations, a cue that overlaps the concept's own words (the
// "no" of "no puedo respirar") or that a pseudo-negation covers ("not sure") does not count.
func (c *context) before(id string, window int, negation bool) (string, bool) {
	clause := c.toks[c.h.start].Clause
	best, found := -1, hit{}
	for _, q := range c.cues[id] {
		// A context cue may share words with the concept ("my dad had" + "had a stroke",
		// "signs of" + "signs of a stroke"), as long as it does not cover all of them; a
		// negation may not (its own "no" is part of some concepts' phrases: "no puedo respirar").
		if (negation && q.end > c.h.start) || q.start > c.h.start || q.end >= c.h.end || c.toks[q.start].Clause != clause {
			continue
		}
		if c.distance(q.end, c.h.start) > window || c.terminated(q.end, c.h.start) {
			continue
		}
		if negation && (c.pseudo(q) || c.toks[q.end-1].CommaAfter) {
			continue
		}
		if q.end > best {
			best, found = q.end, q
		}
	}
	if best < 0 {
		return "", false
	}
	return span(c.text, c.toks, found.start, found.end), true
}

// after finds a cue of list id starting after the hit, in its clause, within window; a
// negation that a pseudo-negation covers does not count ("it goes away when I rest": exertional
// pain, still there).
func (c *context) after(id string, window int) (string, bool) {
	clause := c.toks[c.h.end-1].Clause
	for _, q := range c.cues[id] {
		if q.start < c.h.end || c.toks[q.start].Clause != clause {
			continue
		}
		if c.distance(c.h.end, q.start) > window || c.terminated(c.h.end, q.start) {
			continue
		}
		if id == CueNegationPost && c.pseudo(q) {
			continue // "goes away when I rest": when it stops, not that it is gone
		}
		return span(c.text, c.toks, q.start, q.end), true
	}
	return "", false
}

// inClause finds a cue of list id anywhere in the hit's clause.
func (c *context) inClause(id string) (string, bool) {
	clause := c.toks[c.h.start].Clause
	for _, q := range c.cues[id] {
		if c.toks[q.start].Clause == clause {
			return span(c.text, c.toks, q.start, q.end), true
		}
	}
	return "", false
}

// pseudo reports whether negation cue q is part of a pseudo-negation ("not sure", "no idea").
func (c *context) pseudo(q hit) bool {
	for _, p := range c.cues[CuePseudoNegation] {
		if p.start <= q.start && q.end <= p.end || p.start < q.end && q.start < p.end {
			return true
		}
	}
	return false
}

// recentBetween reports whether a recent cue ("now", "today") lies between the last
// historical cue before the hit and the hit: "had it years ago and now it is back".
func (c *context) recentBetween() bool {
	last := -1
	for _, q := range c.cues[CueHistoricalPre] {
		if q.end <= c.h.start && q.end > last {
			last = q.end
		}
	}
	for _, q := range c.cues[CueRecent] {
		if q.start >= last && q.end <= c.h.start {
			return true
		}
	}
	return false
}

// PhraseHits lists the phrases of the languages langs that match text, each as "lang id:
// phrase", with their number of words (characters for Chinese and Korean): for checks of where
// phrases come from (TestNoLongPhraseOnlyInSealed).
func (l *Lexicons) PhraseHits(text string, langs []string) map[string]int {
	active := map[string]bool{}
	for _, lg := range langs {
		active[lg] = true
	}
	out := map[string]int{}
	for _, h := range l.m.find(Tokenize(text, nil), active) {
		p := &l.m.phrases[h.phrase]
		n := 0
		for _, w := range l.m.wordsOf(p) {
			if !w.gap {
				n++
			}
		}
		out[l.m.langOf(p)+" "+l.m.idOf(p)+": "+l.m.sources[p.src]] = n
	}
	return out
}
