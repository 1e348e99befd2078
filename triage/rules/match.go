package rules

// Match finds every rule phrase in toks and marks the hits that a negation, historical or
// hypothetical cue governs. Cue and except hits are used and dropped; the rest are returned in
// order of position.
func (r *Rules) Match(toks []Token) []Hit {
	m := &r.m
	// candidate word ids per token, in one arena
	offs := make([]int, len(toks)+1)
	var arena []cand
	for i, t := range toks {
		offs[i] = len(arena)
		arena = m.candidates(t.Text, arena)
	}
	offs[len(toks)] = len(arena)
	cands := func(i int) []cand { return arena[offs[i]:offs[i+1]] }

	var hits []Hit
	for i := range toks {
		for _, c := range cands(i) {
			for _, pi := range m.byFirst[c.id] {
				p := &m.phrases[pi]
				if p.elems[0].kind == elemExact && c.fuzzy {
					continue
				}
				if end, ok := m.matchAt(p, 1, i+1, toks, toks[i].Clause, cands); ok {
					hits = addHit(hits, Hit{Group: p.group, Start: i, End: end})
				}
			}
		}
	}
	return m.applyScope(hits, toks)
}

// addHit appends h unless the same group already matched at the same start (hits arrive in
// order of start, so only the tail needs checking).
func addHit(hits []Hit, h Hit) []Hit {
	for i := len(hits) - 1; i >= 0 && hits[i].Start == h.Start; i-- {
		if hits[i].Group == h.Group {
			return hits
		}
	}
	return append(hits, h)
}

// matchAt matches elements k.. of p from token pos, within one clause; it returns the end token.
func (m *matcher) matchAt(p *phrase, k, pos int, toks []Token, clause int, cands func(int) []cand) (int, bool) {
	if k == len(p.elems) {
		return pos, true
	}
	e := p.elems[k]
	if e.kind == elemGap {
		for g := 0; g <= m.scope.MaxGap && pos+g < len(toks) && toks[pos+g].Clause == clause; g++ {
			if end, ok := m.matchAt(p, k+1, pos+g, toks, clause, cands); ok {
				return end, true
			}
		}
		return 0, false
	}
	if pos >= len(toks) || toks[pos].Clause != clause {
		return 0, false
	}
	for _, c := range cands(pos) {
		if c.id == e.id && !(e.kind == elemExact && c.fuzzy) {
			return m.matchAt(p, k+1, pos+1, toks, clause, cands)
		}
	}
	return 0, false
}

// applyScope applies except phrases and cues. A cue governs a hit when it ends at most Window tokens
// before the hit starts (historical_post: starts at most Window tokens after it ends), in the same
// clause, with no breaker word between them. A negation cue does not count when a pseudo-negation
// covers it ("not sure"), when a comma follows it ("No, I ..."), or when it lies inside a
// priority phrase ("no puedo respirar").
func (m *matcher) applyScope(hits []Hit, toks []Token) []Hit {
	// scope clauses: sentence clauses further split at breaker words
	sc := make([]int, len(toks))
	breakAt := make([]bool, len(toks))
	for _, h := range hits {
		if m.groups[h.Group].Kind == KindBreaker {
			breakAt[h.Start] = true
		}
	}
	n := 0
	for i, t := range toks {
		if i > 0 && (t.Clause != toks[i-1].Clause || breakAt[i]) {
			n++
		}
		sc[i] = n
	}
	// split the hits by role once, so the scope pass is linear in rules times cues
	var cues, pseudo, excepts, prio []Hit
	for _, h := range hits {
		switch k := m.groups[h.Group].Kind; {
		case k == KindPseudoNegation:
			pseudo = append(pseudo, h)
		case k == KindExcept:
			excepts = append(excepts, h)
		case k == KindBreaker:
		case k.isCue():
			cues = append(cues, h)
		case k == KindPriority:
			prio = append(prio, h)
		}
	}
	covers := func(hs []Hit, start, end int) bool {
		for _, h := range hs {
			if h.Start <= start && h.End >= end {
				return true
			}
		}
		return false
	}
	// a negation cue does not count under a pseudo-negation, before a comma, or inside a
	// priority phrase
	live := cues[:0]
	for _, c := range cues {
		if m.groups[c.Group].Kind == KindNegation &&
			(toks[c.End-1].CommaAfter || covers(pseudo, c.Start, c.End) || covers(prio, c.Start, c.End)) {
			continue
		}
		live = append(live, c)
	}
	out := hits[:0:0]
	for _, h := range hits {
		g := &m.groups[h.Group]
		if g.Kind.isCue() || g.Kind == KindExcept {
			continue
		}
		cancelled := false
		for _, e := range excepts {
			if m.groups[e.Group].Owner == h.Group && e.Start <= h.Start && e.End >= h.End {
				cancelled = true
				break
			}
		}
		if cancelled {
			continue
		}
		for _, c := range live {
			cg := &m.groups[c.Group]
			var ok bool
			if cg.Kind == KindHistoricalPost {
				ok = c.Start >= h.End && c.Start-h.End <= m.scope.Window && sc[c.Start] == sc[h.End-1]
			} else {
				ok = c.End <= h.Start && h.Start-c.End <= m.scope.Window && sc[c.End-1] == sc[h.Start]
			}
			if !ok {
				continue
			}
			if cg.Kind == KindNegation {
				h.Negated = true
			} else {
				h.Context = true
			}
			if h.Cue == "" {
				h.Cue = cueText(toks[c.Start:c.End])
			}
		}
		out = append(out, h)
	}
	return out
}

func cueText(toks []Token) string {
	s := ""
	for i, t := range toks {
		if i > 0 {
			s += " "
		}
		s += t.Text
	}
	return s
}
