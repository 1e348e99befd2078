package lexicon

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestIndexedFindIsExhaustive: the matcher's index (first word, then second word) finds exactly
// what trying every phrase of each first word finds, in the same order, on every message of the
// development corpus and in every language: the index only skips phrases that cannot match.
func TestIndexedFindIsExhaustive(t *testing.T) {
	l := Default()
	m := l.m
	r := newReference(m)
	f, err := os.Open("../../testdata/triage/corpus/dev.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all := map[string]bool{}
	for _, lang := range m.langs {
		all[lang] = true
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n, hits := 0, 0
	for sc.Scan() {
		var row struct{ ID, Lang, Text string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		toks := Tokenize(row.Text, nil)
		for _, langs := range []map[string]bool{all, {row.Lang: true}} {
			got, want := m.find(toks, langs), r.find(toks, langs)
			if !slices.Equal(got, want) {
				t.Errorf("%s: the index found %d hits, trying every phrase %d", row.ID, len(got), len(want))
			}
			hits += len(want)
		}
		n++
	}
	if n < 1000 || hits == 0 {
		t.Fatalf("%d messages, %d hits: the corpus was not read", n, hits)
	}
}

// reference is the matcher as it was before its second-word index: every phrase of a first
// word is tried.
type reference struct {
	*matcher
	firstAll  map[string][]int32
	prefixAll []struct {
		text    string
		phrases []int32
	}
}

func newReference(m *matcher) *reference {
	byBucket := map[bucket][]int32{}
	for k, sp := range m.pairs {
		byBucket[bucket(k>>32)] = append(byBucket[bucket(k>>32)], m.list(sp)...)
	}
	flat := func(b bucket) []int32 {
		out := append(slices.Clone(m.list(m.anyOf[b])), byBucket[b]...)
		slices.Sort(out)
		return out
	}
	r := &reference{matcher: m, firstAll: map[string][]int32{}}
	for w, b := range m.first {
		r.firstAll[w] = flat(b)
	}
	for _, e := range m.prefix {
		r.prefixAll = append(r.prefixAll, struct {
			text    string
			phrases []int32
		}{e.text, flat(e.b)})
	}
	return r
}

func (m *reference) prefixedAll(text string, f func([]int32)) {
	j := sort.Search(len(m.prefixAll), func(k int) bool { return m.prefixAll[k].text > text })
	for k := j - 1; k >= 0; k-- {
		e := m.prefixAll[k]
		if strings.HasPrefix(text, e.text) {
			f(e.phrases)
			continue
		}
		if e.text[0] != text[0] {
			break
		}
	}
}

// fuzzyCandidates are the vocabulary words one typo away from tok, unless tok is one itself.
func (m *reference) fuzzyCandidates(tok string) []string {
	if m.vocab[tok] {
		return nil
	}
	return m.fuzzyNeighbours(tok)
}

// findReference returns every match of a phrase of the given languages in toks.
func (m *reference) find(toks []Token, langs map[string]bool) []hit {
	var out []hit
	seen := map[[3]int]bool{}
	try := func(ps []int32, i int) {
		for _, pi := range ps {
			p := &m.phrases[pi]
			if !langs[m.langOf(p)] {
				continue
			}
			if end, ok := m.matchFrom(m.wordsOf(p), toks, i, toks[i].Clause, m.fillersOf[p.li], 0); ok {
				k := [3]int{int(pi), i, end}
				if !seen[k] {
					seen[k] = true
					out = append(out, hit{pi, i, end})
				}
			}
		}
	}
	var alt []Token // toks with one conjunction taken off, made when first needed
	for i, t := range toks {
		try(m.firstAll[t.Text], i)
		for _, c := range m.fuzzyCandidates(t.Text) {
			try(m.firstAll[c], i)
		}
		m.prefixedAll(t.Text, func(ps []int32) { try(ps, i) })
		// Arabic writes "and" on the word: "والنبض" is "و" + "النبض", "ونفسي مقطوع" is "and I'm
		// breathless". A concept's phrase (or an exclusion) may start on the word without it;
		// cues are listed with it where they take it.
		if rest, ok := arabicConjunction(t.Text); ok {
			if alt == nil {
				alt = slices.Clone(toks)
			}
			alt[i].Text = rest
			tryAlt := func(ps []int32) {
				for _, pi := range ps {
					p := &m.phrases[pi]
					if !langs[m.langOf(p)] || p.kind == kindCue {
						continue
					}
					if end, ok := m.matchFrom(m.wordsOf(p), alt, i, t.Clause, m.fillersOf[p.li], 0); ok {
						k := [3]int{int(pi), i, end}
						if !seen[k] {
							seen[k] = true
							out = append(out, hit{pi, i, end})
						}
					}
				}
			}
			tryAlt(m.firstAll[rest])
			m.prefixedAll(rest, tryAlt)
			alt[i].Text = t.Text
		}
	}
	return out
}
