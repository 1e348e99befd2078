package lexicon

import (
	"hash/maphash"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What a compiled phrase stands for.
type phraseKind uint8

const (
	kindConcept phraseKind = iota
	kindExclusion
	kindCue
)

// cword is one element of a phrase being compiled.
type cword struct {
	text   string // folded
	prefix bool   // word* : any token starting with text
	gap    bool   // a lone * : up to maxGap tokens (maxCharGap characters)
	char   bool   // a CJK or Hangul character
	fuzzy  bool   // may match a token one typo away (fuzzable, not a prefix or gap)
}

// pword is one element of a compiled phrase: a cword whose text is matcher.words[word].
type pword struct {
	word                     uint32
	prefix, gap, char, fuzzy bool
}

// phrase is a compiled phrase. Phrases and their words hold no pointer (texts are indexes into
// the matcher's tables), so the garbage collector does not walk the 130,000 phrases and
// 400,000 words at every cycle (docs/triage.md, "Speed").
type phrase struct {
	off  uint32 // words: matcher.slab[off : off+n]
	n    uint16
	li   uint8 // language: matcher.langs[li]
	kind phraseKind
	id   uint32 // concept or cue id: matcher.ids[id]
	src  uint32 // as written in the lexicon: matcher.sources[src]
}

func (m *matcher) wordsOf(p *phrase) []pword { return m.slab[p.off : p.off+uint32(p.n)] }
func (m *matcher) idOf(p *phrase) string     { return m.ids[p.id] }
func (m *matcher) langOf(p *phrase) string   { return m.langs[p.li] }

const (
	maxGap     = 3 // words a lone * may skip
	maxCharGap = 4 // characters a lone * may skip in CJK and Hangul
	fuzzyMin   = 6 // words at least this long also match with one typo
)

// matcher finds phrases in token lists. It is immutable after compile.
//
// Phrases are indexed by their first word, then by their second: at a token, only the phrases
// whose first word it is (or a typo of, or starts with) and whose second word the next token
// (or a token past filler words, between characters) is or a typo of are tried, with the few
// whose second word cannot be looked up (a gap, a prefix, or none). Trying every phrase of the
// first word took half of a message's triage: a common first word ("my", "i", "我", "약")
// starts hundreds or thousands of phrases.
type matcher struct {
	phrases   []phrase
	slab      []pword               // every phrase's words
	words     []string              // texts of the words, by pword.word
	ids       []string              // concept and cue ids, by phrase.id
	sources   []string              // phrases as written, by phrase.src
	langs     []string              // languages by index (phrase.li)
	langIdx   map[string]uint8      // language -> index
	fillersOf [][][]string          // by language index: filler words as character tokens, longest first
	fillerAt  map[string][][]string // every language's filler words by their first character
	first     map[string]bucket     // exact first word -> its bucket
	prefix    []prefixEntry         // first words that are prefixes, sorted
	wordID    map[string]uint32     // text -> index in words
	anyOf     []idxSpan             // by bucket: phrases to try whatever follows (one word, or a second word not looked up)
	pairs     map[uint64]idxSpan    // bucket<<32 | second word's id -> phrases
	idx       []int32               // the phrases of the spans, each span in phrase order
	typos     typoIndex
	vocab     map[string]bool // every phrase word that may match with a typo
}

// bucket numbers the phrases of one first word (exact, or a prefix); 0 is none.
type bucket uint32

// idxSpan is a range of matcher.idx.
type idxSpan struct{ off, n uint32 }

func (m *matcher) list(s idxSpan) []int32 { return m.idx[s.off : s.off+s.n] }

type prefixEntry struct {
	text string
	b    bucket
}

func compile(l *Lexicons) *matcher {
	m := &matcher{first: map[string]bucket{}, typos: newTypoIndex(), vocab: map[string]bool{},
		langIdx: map[string]uint8{}, fillerAt: map[string][][]string{}, wordID: map[string]uint32{}, pairs: map[uint64]idxSpan{}}
	prefixes := map[string]bucket{}
	anyLists := [][]int32{nil} // by bucket, while compiling
	pairLists := map[uint64][]int32{}
	bucketOf := func(in map[string]bucket, text string) bucket {
		b := in[text]
		if b == 0 {
			b = bucket(len(anyLists))
			anyLists = append(anyLists, nil)
			in[text] = b
		}
		return b
	}
	// addTo files phrase i under bucket b: by its second word when that word can be looked up.
	addTo := func(b bucket, words []cword, i int32, second uint32) {
		if len(words) < 2 || words[1].gap || words[1].prefix {
			anyLists[b] = append(anyLists[b], i)
			return
		}
		k := uint64(b)<<32 | uint64(second)
		pairLists[k] = append(pairLists[k], i)
	}
	// Texts are interned: a word, an id, a language is stored once, and phrases refer to them
	// by index.
	wordID, idID := m.wordID, map[string]uint32{}
	intern := func(table map[string]uint32, list *[]string, text string) uint32 {
		k, ok := table[text]
		if !ok {
			k = uint32(len(*list))
			table[text] = k
			*list = append(*list, text)
		}
		return k
	}
	add := func(lang string, kind phraseKind, id, text string) {
		words := phraseWords(text)
		if len(words) == 0 || words[0].gap || len(words) > math.MaxUint16 {
			return
		}
		i := int32(len(m.phrases))
		m.phrases = append(m.phrases, phrase{off: uint32(len(m.slab)), n: uint16(len(words)), li: m.langIdx[lang],
			kind: kind, id: intern(idID, &m.ids, id), src: uint32(len(m.sources))})
		m.sources = append(m.sources, text)
		for _, w := range words {
			m.slab = append(m.slab, pword{word: intern(wordID, &m.words, w.text), prefix: w.prefix, gap: w.gap,
				char: w.char, fuzzy: w.fuzzy})
		}
		w, second := words[0], uint32(0)
		if len(words) > 1 {
			second = m.slab[len(m.slab)-len(words)+1].word
		}
		if w.prefix {
			addTo(bucketOf(prefixes, w.text), words, i, second)
		} else {
			addTo(bucketOf(m.first, w.text), words, i, second)
		}
		for _, w := range words {
			if !w.gap && !w.char && !w.prefix && fuzzable(w.text) && !m.vocab[w.text] {
				m.vocab[w.text] = true
				m.typos.add(w.text)
			}
		}
	}
	// In a fixed order (languages, then ids): the phrases' order decides the order of hits,
	// findings and the model's features, and training must give the same bytes every time.
	for _, lang := range slices.Sorted(maps.Keys(l.Files)) {
		f := l.Files[lang]
		li := len(m.langs)
		if li >= 64 { // the languages of a search are a 64-bit mask (find)
			panic("lexicon: more than 64 languages")
		}
		m.langs, m.langIdx[lang] = append(m.langs, lang), uint8(li)
		var fillers [][]string
		for _, w := range f.Fillers {
			var chars []string
			for _, t := range Tokenize(w, nil) {
				chars = append(chars, t.Text)
			}
			if len(chars) > 0 {
				fillers = append(fillers, chars)
			}
		}
		slices.SortStableFunc(fillers, func(a, b []string) int { return len(b) - len(a) })
		m.fillersOf = append(m.fillersOf, fillers)
		for _, f := range fillers {
			m.fillerAt[f[0]] = append(m.fillerAt[f[0]], f)
		}
		for _, id := range slices.Sorted(maps.Keys(f.Concepts)) {
			for _, p := range f.Concepts[id] {
				add(lang, kindConcept, id, p)
			}
		}
		for _, id := range slices.Sorted(maps.Keys(f.Exclusions)) {
			for _, p := range f.Exclusions[id] {
				add(lang, kindExclusion, id, p)
			}
		}
		for _, id := range slices.Sorted(maps.Keys(f.Cues)) {
			for _, p := range f.Cues[id] {
				add(lang, kindCue, id, p)
			}
		}
	}
	m.typos.built()
	// The lists, packed in one array (in a fixed order, for reproducible training).
	m.anyOf = make([]idxSpan, len(anyLists))
	for b, ps := range anyLists {
		m.anyOf[b] = idxSpan{uint32(len(m.idx)), uint32(len(ps))}
		m.idx = append(m.idx, ps...)
	}
	for _, k := range slices.Sorted(maps.Keys(pairLists)) {
		ps := pairLists[k]
		m.pairs[k] = idxSpan{uint32(len(m.idx)), uint32(len(ps))}
		m.idx = append(m.idx, ps...)
	}
	m.idx = slices.Clip(m.idx)
	for t, b := range prefixes {
		m.prefix = append(m.prefix, prefixEntry{t, b})
	}
	sort.Slice(m.prefix, func(i, j int) bool { return m.prefix[i].text < m.prefix[j].text })
	return m
}

// phraseWords compiles a phrase: its words (folded), with "word*" a prefix, a lone "*" (or a
// "*" between CJK characters) a gap, and CJK and Hangul characters one element each.
func phraseWords(p string) []cword {
	var out []cword
	for _, field := range strings.Fields(p) {
		if field == "*" {
			out = append(out, cword{gap: true})
			continue
		}
		// Split the field at its stars: "respir*" is a prefix, "胸*痛" a gap.
		parts := strings.Split(field, "*")
		for i, part := range parts {
			toks := Tokenize(part, nil)
			for _, t := range toks {
				out = append(out, cword{text: t.Text, char: t.Char})
			}
			if i == len(parts)-1 {
				break
			}
			// a star after this part
			if len(toks) > 0 && !toks[len(toks)-1].Char && i+1 == len(parts)-1 && parts[i+1] == "" {
				out[len(out)-1].prefix = true
				break
			}
			out = append(out, cword{gap: true})
		}
	}
	// a trailing gap matches nothing more
	for len(out) > 0 && out[len(out)-1].gap {
		out = out[:len(out)-1]
	}
	for i := range out {
		w := &out[i]
		w.fuzzy = !w.gap && !w.char && !w.prefix && fuzzable(w.text)
	}
	return out
}

// fuzzable reports whether a word may match with one typo: long enough, and in a script where
// a typo is one letter (Latin, Cyrillic, Greek).
func fuzzable(w string) bool {
	if len(w) < fuzzyMin || utf8.RuneCountInString(w) < fuzzyMin {
		return false
	}
	for _, r := range w {
		if !unicode.IsLetter(r) || isChar(r) || unicode.Is(unicode.Arabic, r) {
			return false
		}
	}
	return true
}

// deletions lists w with each one rune deleted (the symmetric-delete index of edit distance 1).
func deletions(w string) []string {
	rs := []rune(w)
	out := make([]string, 0, len(rs))
	for i := range rs {
		out = append(out, string(rs[:i])+string(rs[i+1:]))
	}
	return out
}

// hit is one phrase found: tokens [start, end).
type hit struct {
	phrase     int32
	start, end int
}

// find returns every match of a phrase of the given languages in toks, in the order of their
// first token, then of where the phrases were found (the exact first word, its typos, its
// prefixes, without an Arabic conjunction), then of the phrases.
func (m *matcher) find(toks []Token, langs map[string]bool) []hit {
	var mask uint64
	for lang, on := range langs {
		if li, ok := m.langIdx[lang]; on && ok {
			mask |= 1 << li
		}
	}
	// Each token's vocabulary words one typo away, found when first needed.
	nearDone, nearWords := make([]bool, len(toks)), make([][]string, len(toks))
	near := func(i int) []string {
		if !nearDone[i] {
			nearDone[i], nearWords[i] = true, m.fuzzyNeighbours(toks[i].Text)
		}
		return nearWords[i]
	}
	var out, found []hit
	var seconds []int
	seen := map[[3]int]bool{}
	// try matches the phrases of bucket b at token i of tk, those of one source in phrase order.
	try := func(b bucket, tk []Token, i int, cues bool) {
		if b == 0 {
			return
		}
		found = found[:0]
		tryList := func(ps []int32) {
			for _, pi := range ps {
				p := &m.phrases[pi]
				if mask&(1<<p.li) == 0 || !cues && p.kind == kindCue {
					continue
				}
				if end, ok := m.matchFrom(m.wordsOf(p), tk, i, tk[i].Clause, m.fillersOf[p.li], 0); ok {
					found = append(found, hit{pi, i, end})
				}
			}
		}
		tryList(m.list(m.anyOf[b]))
		seconds = m.seconds(tk, i, seconds[:0])
		for _, j := range seconds {
			if id, ok := m.wordID[tk[j].Text]; ok {
				tryList(m.list(m.pairs[uint64(b)<<32|uint64(id)]))
			}
			for _, c := range near(j) {
				tryList(m.list(m.pairs[uint64(b)<<32|uint64(m.wordID[c])]))
			}
		}
		slices.SortFunc(found, func(x, y hit) int { return int(x.phrase) - int(y.phrase) })
		for _, h := range found {
			if k := [3]int{int(h.phrase), h.start, h.end}; !seen[k] {
				seen[k] = true
				out = append(out, h)
			}
		}
	}
	var alt []Token // toks with one conjunction taken off, made when first needed
	for i, t := range toks {
		try(m.first[t.Text], toks, i, true)
		if !m.vocab[t.Text] { // a word of the lexicons is itself, not a typo of another
			for _, c := range near(i) {
				try(m.first[c], toks, i, true)
			}
		}
		m.prefixed(t.Text, func(b bucket) { try(b, toks, i, true) })
		// Arabic writes "and" on the word: "والنبض" is "و" + "النبض", "ونفسي مقطوع" is "and I'm
		// breathless". A concept's phrase (or an exclusion) may start on the word without it;
		// cues are listed with it where they take it.
		if rest, ok := arabicConjunction(t.Text); ok {
			if alt == nil {
				alt = slices.Clone(toks)
			}
			alt[i].Text = rest
			try(m.first[rest], alt, i, false)
			m.prefixed(rest, func(b bucket) { try(b, alt, i, false) })
			alt[i].Text = t.Text
		}
	}
	return out
}

// seconds appends to buf where the second word of a phrase starting at token i may stand: the
// next token, and, between characters, the token after one or two filler words of any
// language (matchFrom then checks the phrase's own language's).
func (m *matcher) seconds(toks []Token, i int, buf []int) []int {
	if i+1 >= len(toks) {
		return buf
	}
	buf = append(buf, i+1)
	if !toks[i].Char {
		return buf
	}
	for from, level := len(buf)-1, 0; level < maxFillers; level++ {
		to := len(buf)
		for _, j := range buf[from:to] {
			if j >= len(toks) || !toks[j].Char || !toks[j-1].Char {
				continue
			}
			for _, f := range m.fillerAt[toks[j].Text] {
				if n := charsAt(toks, j, toks[i].Clause, f); n > 0 && j+n < len(toks) && !slices.Contains(buf, j+n) {
					buf = append(buf, j+n)
				}
			}
		}
		from = to
	}
	return buf
}

// prefixed calls f with the buckets whose first word is a prefix ("word*") of text.
func (m *matcher) prefixed(text string, f func(bucket)) {
	j := sort.Search(len(m.prefix), func(k int) bool { return m.prefix[k].text > text })
	for k := j - 1; k >= 0; k-- {
		e := m.prefix[k]
		if strings.HasPrefix(text, e.text) {
			f(e.b)
			continue
		}
		if e.text[0] != text[0] {
			break
		}
	}
}

// arabicConjunction splits the conjunction و ("and") off an Arabic word of at least three
// letters: "والنبض" is "النبض".
func arabicConjunction(w string) (string, bool) {
	rest, ok := strings.CutPrefix(w, "و")
	if !ok || utf8.RuneCountInString(rest) < 2 {
		return "", false
	}
	for _, r := range rest {
		if !unicode.Is(unicode.Arabic, r) {
			return "", false
		}
	}
	return rest, true
}

// fuzzyNeighbours are the vocabulary words one typo away from tok (not tok itself), for a
// token that may have a typo (fuzzable).
func (m *matcher) fuzzyNeighbours(tok string) []string {
	if !fuzzable(tok) {
		return nil
	}
	var out []string
	consider := func(w string) {
		if w != tok && m.vocab[w] && oneEdit(tok, w) && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	m.typos.each(tok, consider) // tok is w with one rune deleted
	for _, d := range deletions(tok) {
		if m.vocab[d] { // w is tok with one rune deleted
			consider(d)
		}
		m.typos.each(d, consider) // substitution or transposition
	}
	return out
}

// typoIndex is the symmetric-delete index of the vocabulary (edit distance 1): for each word,
// every string it makes with one rune deleted, by hash, with no pointer but the words' own (a
// map of strings to lists of words was 300,000 objects for the garbage collector to walk). A
// hash collision only adds a candidate, which oneEdit then refuses.
type typoIndex struct {
	seed    maphash.Seed
	words   []string
	head    map[uint64]int32 // hash of a deletion -> its first entry + 1
	tail    map[uint64]int32 // its last entry + 1, while the index is built
	entries []typoEntry
}

type typoEntry struct {
	word, next int32 // next: the following entry of the same hash + 1, 0 at the end
}

func newTypoIndex() typoIndex {
	return typoIndex{seed: maphash.MakeSeed(), head: map[uint64]int32{}, tail: map[uint64]int32{}}
}

// add indexes word w; entries keep the order words were added in.
func (x *typoIndex) add(w string) {
	id := int32(len(x.words))
	x.words = append(x.words, w)
	for _, d := range deletions(w) {
		h := maphash.String(x.seed, d)
		x.entries = append(x.entries, typoEntry{word: id})
		e := int32(len(x.entries))
		if t := x.tail[h]; t != 0 {
			x.entries[t-1].next = e
		} else {
			x.head[h] = e
		}
		x.tail[h] = e
	}
}

// built drops what only building needed.
func (x *typoIndex) built() { x.tail = nil }

// each calls f with the words one rune of which deleted may give d, in the order they were added.
func (x *typoIndex) each(d string, f func(w string)) {
	for e := x.head[maphash.String(x.seed, d)]; e != 0; e = x.entries[e-1].next {
		f(x.words[x.entries[e-1].word])
	}
}

// oneEdit reports whether a and b are one typo apart: an insertion, deletion or swap of
// neighbouring runes, or from 8 letters a substitution; never in the first letter. Shorter
// substitutions turn words into other words too often ("choking" and "cooking", "cancel" and
// "cancer", "billing" and "killing").
func oneEdit(a, b string) bool {
	x, y := []rune(a), []rune(b)
	if len(x) < len(y) {
		x, y = y, x
	}
	if len(y) == 0 || x[0] != y[0] {
		return false
	}
	switch len(x) - len(y) {
	case 0:
		diff := []int{}
		for i := range x {
			if x[i] != y[i] {
				diff = append(diff, i)
			}
		}
		switch len(diff) {
		case 1:
			return len(x) >= 8
		case 2:
			i, j := diff[0], diff[1]
			return j == i+1 && x[i] == y[j] && x[j] == y[i]
		}
		return false
	case 1:
		i := 0
		for i < len(y) && x[i] == y[i] {
			i++
		}
		return string(x[i+1:]) == string(y[i:])
	}
	return false
}

// wordMatches reports whether token t matches phrase word w.
func (m *matcher) wordMatches(w pword, t Token) bool {
	text := m.words[w.word]
	switch {
	case w.char != t.Char:
		return false
	case w.prefix:
		return strings.HasPrefix(t.Text, text)
	case t.Text == text:
		return true
	}
	if !w.fuzzy || len(t.Text) < fuzzyMin {
		return false
	}
	if d := len(text) - len(t.Text); d > 4 || d < -4 { // one edit changes at most 4 bytes
		return false
	}
	return fuzzable(t.Text) && oneEdit(text, t.Text)
}

// maxFillers is how many filler words may stand inside one phrase of characters.
const maxFillers = 2

// matchFrom matches words against toks from index i, all in clause; end is exclusive. Between
// two characters of a phrase, up to maxFillers of the language's filler words may stand.
func (m *matcher) matchFrom(words []pword, toks []Token, i, clause int, fillers [][]string, filled int) (end int, ok bool) {
	if len(words) == 0 {
		return i, true
	}
	w := words[0]
	if w.gap {
		limit := maxGap
		if i < len(toks) && toks[i].Char {
			limit = maxCharGap
		}
		for skip := 0; skip <= limit && i+skip < len(toks) && toks[i+skip].Clause == clause; skip++ {
			if end, ok := m.matchFrom(words[1:], toks, i+skip, clause, fillers, filled); ok {
				return end, true
			}
		}
		return 0, false
	}
	if i >= len(toks) || toks[i].Clause != clause {
		return 0, false
	}
	if m.wordMatches(w, toks[i]) {
		return m.matchFrom(words[1:], toks, i+1, clause, fillers, filled)
	}
	// Inside a phrase of characters (the previous token was its character): a filler word.
	if w.char && filled < maxFillers && i > 0 && toks[i-1].Char && toks[i].Char {
		for _, f := range fillers {
			if f[0] != toks[i].Text {
				continue
			}
			if n := charsAt(toks, i, clause, f); n > 0 {
				return m.matchFrom(words, toks, i+n, clause, fillers, filled+1)
			}
		}
	}
	return 0, false
}

// charsAt is len(chars) when the character tokens from i spell chars, in clause; else 0.
func charsAt(toks []Token, i, clause int, chars []string) int {
	if i+len(chars) > len(toks) {
		return 0
	}
	for j, c := range chars {
		if t := toks[i+j]; !t.Char || t.Clause != clause || t.Text != c {
			return 0
		}
	}
	return len(chars)
}
