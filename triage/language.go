package triage

import (
	"sort"

	"github.com/portico-health/portico/triage/rules"
)

// detectLanguage votes with stopwords: the language whose stopwords occur most often wins; ties
// and messages without any go to "en".
func detectLanguage(r *rules.Rules, toks []rules.Token) string {
	langs := make([]string, 0, len(r.Stop))
	for l := range r.Stop {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	best, bestN := "en", 0
	for _, l := range langs {
		n := 0
		for _, t := range toks {
			if r.Stop[l][t.Text] {
				n++
			}
		}
		if n > bestN || n == bestN && n > 0 && l == "en" {
			best, bestN = l, n
		}
	}
	return best
}
