// Package lexicon is how patients write: the concept inventory (concepts.json), one lexicon a
// language (<code>.json: the ways patients write each concept, the context cues, stopwords,
// number and unit words), and the reading of a message with them: its tokens, the concepts
// found with their context (negated, historical, hypothetical, someone else's, in a form), and
// the quantities it gives (temperatures, ages, weeks of pregnancy, blood pressure, glucose,
// INR, pill counts, pain scores, heart rates). The lexicons are data a clinician or a
// translator can read and change (WRITING.md); nothing here decides a priority (package triage
// and its protocols do).
package lexicon

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
)

//go:embed *.json
var files embed.FS

// Concept is one entry of the inventory.
type Concept struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
}

// Inventory is concepts.json.
type Inventory struct {
	About    string    `json:"about"`
	Concepts []Concept `json:"concepts"`
	Cues     []Concept `json:"cues"`
}

// The cue lists (concepts.json "cues").
const (
	CueNegationPre    = "negation_pre"
	CueNegationPost   = "negation_post"
	CuePseudoNegation = "pseudo_negation"
	CueHistoricalPre  = "historical_pre"
	CueHistoricalPost = "historical_post"
	CueHypothetical   = "hypothetical"
	CueFamily         = "family"
	CueTermination    = "termination"
	CueRecent         = "recent"
	CueForm           = "future_or_form"
)

// File is one language's lexicon.
type File struct {
	Language   string              `json:"language"`
	Name       string              `json:"name"`
	Script     string              `json:"script"`
	Concepts   map[string][]string `json:"concepts"`
	Exclusions map[string][]string `json:"exclusions"`
	Cues       map[string][]string `json:"cues"`
	Stopwords  []string            `json:"stopwords"`
	Numbers    map[string]float64  `json:"numbers"`
	Units      map[string][]string `json:"units"`
	// Fillers (zh and ko) are the words that may stand between the characters of a phrase
	// without changing what it says: degree words and particles ("嘴唇有点肿" is "嘴唇肿").
	// Never a negation.
	Fillers []string `json:"fillers,omitempty"`
	// WriterNote is free text from whoever wrote the file.
	WriterNote string `json:"writer_note,omitempty"`
}

// Unit words a lexicon gives (File.Units keys).
// "pregnant_pre" are the words before a number of weeks that make it the writer's pregnancy
// ("I'm 12 weeks", "tengo 29 semanas").
// "bpm" are the words after a number that make it a pulse ("150 bpm", "latidos por minuto").
var unitKinds = []string{"day", "week", "month", "year", "hour", "minute", "pill", "degree", "old", "pregnant_weeks", "pregnant_pre", "bpm"}

// Lexicons is the inventory and every language's file, compiled for reading messages.
type Lexicons struct {
	Inventory Inventory
	Files     map[string]*File // by language code
	concepts  map[string]Concept
	m         *matcher
	stop      map[string]map[string]bool // language -> folded stopwords
	wordLangs map[string]langBits        // folded word -> the languages it is a stopword or a phrase word of
	langOrder []string                   // languages by bit (sorted)
	numbers   map[string]float64         // folded number word -> value, every language
	units     map[string]string          // folded unit word (first word) -> kind, every language
	unitPhr   [][]string                 // multi-word unit phrases, folded words, with kind last
	pregPre   [][]string                 // "pregnant_pre" phrases, folded words
}

// langBits are sets of languages, as bits of Lexicons.langOrder.
type langBits struct{ stop, vocab uint64 }

// Languages lists the languages with a lexicon, sorted.
func (l *Lexicons) Languages() []string {
	out := make([]string, 0, len(l.Files))
	for k := range l.Files {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Concept returns the inventory entry of id.
func (l *Lexicons) Concept(id string) (Concept, bool) {
	c, ok := l.concepts[id]
	return c, ok
}

// ErrInvalid is wrapped by every problem Load reports.
var ErrInvalid = errors.New("lexicon: invalid")

var (
	defaultOnce sync.Once
	defaultLex  *Lexicons
	defaultErr  error
)

// Default is the shipped lexicons (compiled once). It panics if they are invalid, which the
// package's tests rule out.
func Default() *Lexicons {
	defaultOnce.Do(func() { defaultLex, defaultErr = LoadFS(files) })
	if defaultErr != nil {
		panic(defaultErr)
	}
	return defaultLex
}

// LoadFS reads concepts.json and every other *.json of fsys as a language's lexicon, checks
// them (every concept and cue list known, no empty phrase) and compiles them. Every problem is
// reported at once.
func LoadFS(fsys fs.FS) (*Lexicons, error) {
	data, err := fs.ReadFile(fsys, "concepts.json")
	if err != nil {
		return nil, err
	}
	l := &Lexicons{Files: map[string]*File{}, concepts: map[string]Concept{}, stop: map[string]map[string]bool{},
		numbers: map[string]float64{}, units: map[string]string{}}
	if err := strictJSON(data, &l.Inventory); err != nil {
		return nil, fmt.Errorf("%w: concepts.json: %v", ErrInvalid, err)
	}
	cues := map[string]bool{}
	for _, c := range l.Inventory.Concepts {
		l.concepts[c.ID] = c
	}
	for _, c := range l.Inventory.Cues {
		cues[c.ID] = true
	}
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, name := range names {
		if name == "concepts.json" {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var f File
		if err := strictJSON(data, &f); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if f.Language+".json" != name {
			problems = append(problems, fmt.Sprintf("%s: language %q is not the file's name", name, f.Language))
		}
		for id, phrases := range f.Concepts {
			if _, ok := l.concepts[id]; !ok {
				problems = append(problems, fmt.Sprintf("%s: unknown concept %q", name, id))
			}
			for _, p := range phrases {
				if strings.Trim(p, " *") == "" {
					problems = append(problems, fmt.Sprintf("%s: concept %s: empty phrase", name, id))
				}
			}
		}
		for id := range f.Exclusions {
			if _, ok := l.concepts[id]; !ok {
				problems = append(problems, fmt.Sprintf("%s: exclusions of unknown concept %q", name, id))
			}
		}
		for id := range f.Cues {
			if !cues[id] {
				problems = append(problems, fmt.Sprintf("%s: unknown cue list %q", name, id))
			}
		}
		for k := range f.Units {
			if !slices.Contains(unitKinds, k) {
				problems = append(problems, fmt.Sprintf("%s: unknown unit kind %q", name, k))
			}
		}
		l.Files[f.Language] = &f
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", ErrInvalid, strings.Join(problems, "\n  "))
	}
	// In a fixed order: the first language to claim a number or unit word keeps it, and the
	// order of unit phrases decides which one reads a number.
	for _, lang := range slices.Sorted(maps.Keys(l.Files)) {
		f := l.Files[lang]
		st := map[string]bool{}
		for _, w := range f.Stopwords {
			for _, t := range Tokenize(w, nil) {
				st[t.Text] = true
			}
		}
		l.stop[lang] = st
		vocab := map[string]bool{}
		for _, ps := range f.Concepts {
			for _, p := range ps {
				for _, t := range Tokenize(strings.ReplaceAll(p, "*", " "), nil) {
					if !t.Char && !t.Number && len(t.Text) >= 3 {
						vocab[t.Text] = true
					}
				}
			}
		}
		if l.wordLangs == nil {
			l.wordLangs = map[string]langBits{}
		}
		bit := uint64(1) << len(l.langOrder)
		l.langOrder = append(l.langOrder, lang)
		for w := range st {
			b := l.wordLangs[w]
			b.stop |= bit
			l.wordLangs[w] = b
		}
		for w := range vocab {
			b := l.wordLangs[w]
			b.vocab |= bit
			l.wordLangs[w] = b
		}
		for _, w := range slices.Sorted(maps.Keys(f.Numbers)) {
			if toks := Tokenize(w, nil); len(toks) == 1 {
				if _, taken := l.numbers[toks[0].Text]; !taken {
					l.numbers[toks[0].Text] = f.Numbers[w]
				}
			}
		}
		for _, kind := range slices.Sorted(maps.Keys(f.Units)) {
			for _, w := range f.Units[kind] {
				var ws []string
				for _, t := range Tokenize(w, nil) {
					ws = append(ws, t.Text)
				}
				if kind == "pregnant_pre" {
					if len(ws) > 0 {
						l.pregPre = append(l.pregPre, ws)
					}
					continue
				}
				switch len(ws) {
				case 0:
				case 1:
					if _, taken := l.units[ws[0]]; !taken {
						l.units[ws[0]] = kind
					}
				default:
					l.unitPhr = append(l.unitPhr, append(ws, kind))
				}
			}
		}
	}
	l.m = compile(l)
	return l, nil
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
