package rules

import (
	"strconv"
	"strings"
)

// Kind says what a compiled phrase group is for.
type Kind uint8

const (
	KindPriority Kind = iota
	KindCategory
	KindEscalator
	KindComboPart
	KindMeasureCue
	KindExcept
	KindNegation
	KindPseudoNegation
	KindHistorical
	KindHistoricalPost
	KindHypothetical
	KindBreaker
)

// isCue reports whether k is a scope cue rather than a rule.
func (k Kind) isCue() bool { return k >= KindNegation }

// CompiledGroup is one group of phrases with what a hit on it means.
type CompiledGroup struct {
	ID              string
	Lang            string
	Kind            Kind
	Priority        Priority
	Category        string
	Weight          float64
	Negatable       bool
	NegatedPriority Priority // -1: a negated hit carries nothing
	RequiresSymptom bool
	Combo, Part     int // KindComboPart
	Measure         int // KindMeasureCue
	Owner           int // KindExcept: the group whose hits it cancels
}

// Hit is one phrase found in a token list.
type Hit struct {
	Group      int
	Start, End int    // token indexes, End exclusive
	Negated    bool   // a negation cue governs it
	Context    bool   // a historical or hypothetical cue governs it
	Cue        string // the cue text, when Negated or Context
}

type elemKind uint8

const (
	elemWord  elemKind = iota // exact, variant or fuzzy
	elemExact                 // exact or variant only (cues)
	elemPrefix
	elemGap
)

type elem struct {
	kind elemKind
	id   int32
}

type phrase struct {
	elems []elem
	group int
}

type cand struct {
	id    int32
	fuzzy bool
}

// matcher finds phrases in token lists. It is immutable after compile and safe for concurrent use.
type matcher struct {
	vocab    map[string]int32
	words    []string // by id; prefixes keep their trailing '*'
	prefixes []int32
	prefixOf []string // by index in prefixes: the prefix without its '*'
	deletes  map[string][]int32
	exclude  map[string]bool
	variants map[string]string
	byFirst  map[int32][]int
	phrases  []phrase
	groups   []CompiledGroup
	fuzzy    FuzzyConfig
	scope    ScopeConfig
}

func (m *matcher) wordID(w string) int32 {
	if id, ok := m.vocab[w]; ok {
		return id
	}
	id := int32(len(m.words))
	m.vocab[w] = id
	m.words = append(m.words, w)
	if strings.HasSuffix(w, "*") {
		m.prefixes = append(m.prefixes, id)
		m.prefixOf = append(m.prefixOf, strings.TrimSuffix(w, "*"))
	}
	return id
}

// addPhrase compiles one phrase into group g. It returns false for a phrase with no words or
// one that starts or ends with a gap.
func (m *matcher) addPhrase(p string, g int, exact bool) bool {
	ws := phraseWords(p)
	if len(ws) == 0 || ws[0] == "*" || ws[len(ws)-1] == "*" {
		return false
	}
	ph := phrase{group: g}
	for _, w := range ws {
		if v := m.variants[w]; v != "" {
			w = v
		}
		switch {
		case w == "*":
			ph.elems = append(ph.elems, elem{kind: elemGap})
		case strings.HasSuffix(w, "*"):
			ph.elems = append(ph.elems, elem{kind: elemPrefix, id: m.wordID(w)})
		case exact:
			ph.elems = append(ph.elems, elem{kind: elemExact, id: m.wordID(w)})
		default:
			ph.elems = append(ph.elems, elem{kind: elemWord, id: m.wordID(w)})
		}
	}
	m.byFirst[ph.elems[0].id] = append(m.byFirst[ph.elems[0].id], len(m.phrases))
	m.phrases = append(m.phrases, ph)
	return true
}

// buildFuzzy indexes every single-letter deletion of the plain words, for edit-distance-1 lookups
// (the symmetric-delete method: two words within one edit share a deletion or one is a deletion
// of the other).
func (m *matcher) buildFuzzy() {
	m.deletes = map[string][]int32{}
	for id, w := range m.words {
		if strings.HasSuffix(w, "*") || len(w) < m.fuzzy.MinLenTransposition || isNumber(w) {
			continue
		}
		for _, d := range deletions(w) {
			m.deletes[d] = appendUnique(m.deletes[d], int32(id))
		}
		m.deletes[w] = appendUnique(m.deletes[w], int32(id))
	}
}

func deletions(w string) []string {
	out := make([]string, 0, len(w))
	for i := range len(w) {
		out = append(out, w[:i]+w[i+1:])
	}
	return out
}

func appendUnique(s []int32, v int32) []int32 {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func isNumber(w string) bool {
	_, err := strconv.ParseFloat(w, 64)
	return err == nil
}

// candidates appends the word ids token text t may stand for.
func (m *matcher) candidates(t string, dst []cand) []cand {
	if v, ok := m.variants[t]; ok {
		t = v
	}
	id, exact := m.vocab[t]
	if exact {
		dst = append(dst, cand{id: id})
	}
	for i, pid := range m.prefixes {
		if strings.HasPrefix(t, m.prefixOf[i]) {
			dst = append(dst, cand{id: pid})
		}
	}
	if exact || len(t) < m.fuzzy.MinLenTransposition || m.exclude[t] || t[0] >= '0' && t[0] <= '9' {
		return dst
	}
	seen := func(id int32) bool {
		for _, c := range dst {
			if c.id == id {
				return true
			}
		}
		return false
	}
	try := func(key string) {
		for _, id := range m.deletes[key] {
			if !seen(id) && m.closeEnough(t, m.words[id]) {
				dst = append(dst, cand{id: id, fuzzy: true})
			}
		}
	}
	try(t)
	for _, d := range deletions(t) {
		try(d)
	}
	return dst
}

// closeEnough applies the fuzzy policy: one edit for long words, one adjacent swap for shorter.
func (m *matcher) closeEnough(t, w string) bool {
	if len(w) >= m.fuzzy.MinLenEdit {
		return osa1(t, w)
	}
	return len(w) >= m.fuzzy.MinLenTransposition && len(t) == len(w) && isSwap(t, w)
}

// isSwap reports whether a and b (same length) differ by exactly one adjacent transposition.
func isSwap(a, b string) bool {
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
}

// osa1 reports whether a and b are within optimal-string-alignment distance 1.
func osa1(a, b string) bool {
	if a == b {
		return true
	}
	la, lb := len(a), len(b)
	switch {
	case la == lb:
		i := 0
		for i < la && a[i] == b[i] {
			i++
		}
		return a[i+1:] == b[i+1:] || isSwap(a, b)
	case la == lb+1:
		a, b = b, a
		fallthrough
	case la+1 == lb:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		return a[i:] == b[i+1:]
	}
	return false
}
