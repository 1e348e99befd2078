// Package protocol is triage's floor: red-flag protocols over the concepts, context and
// quantities the lexicons read in a message, in a data file a clinician can read and change
// (protocols.json, one rule each with its clinical rationale). A protocol that holds sets the
// least priority the message gets; nothing else in triage may lower it.
package protocol

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/portico-health/portico/internal/jsonpos"
	"github.com/portico-health/portico/triage/lexicon"
)

//go:embed protocols.json
var shipped []byte

// File is protocols.json.
type File struct {
	Version   int        `json:"version"`
	About     string     `json:"about"`
	Protocols []Protocol `json:"protocols"`
}

// Protocol is one rule: when every condition holds, the message is at least Priority.
type Protocol struct {
	ID       string `json:"id"`
	Priority string `json:"priority"` // urgent, asap or stat
	// All: every one of these concepts found affirmed (the patient's, now).
	All []string `json:"all,omitempty"`
	// Any: each group needs one of its concepts affirmed (an AND of ORs).
	Any [][]string `json:"any,omitempty"`
	// None: none of these concepts affirmed.
	None []string `json:"none,omitempty"`
	// Negated: one of these concepts found denied ("not suicidal" is still read within a day).
	Negated []string `json:"negated,omitempty"`
	// Quantities: each condition needs a quantity of its kind in its range.
	Quantities []Range `json:"quantities,omitempty"`
	// Rationale is the clinical reason, with its source.
	Rationale string `json:"rationale"`
}

// Range is a condition on a quantity: Kind (lexicon.Q...) with its value in [Min, Max) (a
// missing bound is open).
type Range struct {
	Kind string   `json:"kind"`
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
}

// Set is a validated protocol file.
type Set struct {
	File File
}

// ErrInvalid is wrapped by every problem Load reports.
var ErrInvalid = errors.New("protocol: invalid")

var priorities = map[string]int{"routine": 0, "urgent": 1, "asap": 2, "stat": 3}

var quantityKinds = []string{lexicon.QTemperatureC, lexicon.QAgeDays, lexicon.QGestationWk, lexicon.QSystolic,
	lexicon.QDiastolic, lexicon.QGlucose, lexicon.QINR, lexicon.QPills, lexicon.QPainScore, lexicon.QDurationHrs, lexicon.QHeartRate}

var (
	defOnce sync.Once
	defSet  *Set
	defErr  error
)

// Default is the shipped protocols (checked against the shipped lexicons).
func Default() *Set {
	defOnce.Do(func() { defSet, defErr = Parse(shipped, lexicon.Default()) })
	if defErr != nil {
		panic(defErr)
	}
	return defSet
}

// Load reads a protocol file ("" is the shipped one) and checks it against lex.
func Load(path string, lex *lexicon.Lexicons) (*Set, error) {
	if path == "" {
		return Parse(shipped, lex)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	set, err := Parse(data, lex)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// Parse checks a protocol file: unknown fields, priorities, concepts and quantity kinds, a
// protocol without conditions or rationale, duplicate ids; every problem at once.
func Parse(data []byte, lex *lexicon.Lexicons) (*Set, error) {
	var f File
	if err := jsonpos.DecodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var problems []string
	ids := map[string]bool{}
	concept := func(p Protocol, c string) {
		if _, ok := lex.Concept(c); !ok {
			problems = append(problems, fmt.Sprintf("%s: unknown concept %q", p.ID, c))
		}
	}
	for _, p := range f.Protocols {
		if p.ID == "" || ids[p.ID] {
			problems = append(problems, fmt.Sprintf("protocol %q: empty or duplicate id", p.ID))
		}
		ids[p.ID] = true
		if lv, ok := priorities[p.Priority]; !ok || lv == 0 {
			problems = append(problems, fmt.Sprintf("%s: priority %q is not urgent, asap or stat", p.ID, p.Priority))
		}
		if len(p.All)+len(p.Any)+len(p.Negated)+len(p.Quantities) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no condition", p.ID))
		}
		if strings.TrimSpace(p.Rationale) == "" {
			problems = append(problems, fmt.Sprintf("%s: no rationale", p.ID))
		}
		for _, c := range p.All {
			concept(p, c)
		}
		for _, g := range p.Any {
			if len(g) == 0 {
				problems = append(problems, fmt.Sprintf("%s: an empty any group", p.ID))
			}
			for _, c := range g {
				concept(p, c)
			}
		}
		for _, c := range append(append([]string{}, p.None...), p.Negated...) {
			concept(p, c)
		}
		for _, q := range p.Quantities {
			known := false
			for _, k := range quantityKinds {
				known = known || k == q.Kind
			}
			if !known || q.Min == nil && q.Max == nil {
				problems = append(problems, fmt.Sprintf("%s: quantity %q needs a known kind and a bound", p.ID, q.Kind))
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", ErrInvalid, strings.Join(problems, "\n  "))
	}
	return &Set{File: f}, nil
}

// Hit is a protocol that holds, with the words that made it hold.
type Hit struct {
	Protocol *Protocol
	Priority int      // 1 urgent, 2 asap, 3 stat
	Matched  []string // the findings' and quantities' words
}

// Evaluate returns every protocol that holds for the reading.
func (s *Set) Evaluate(r *lexicon.Reading) []Hit {
	var out []Hit
	for i := range s.File.Protocols {
		p := &s.File.Protocols[i]
		if m, ok := holds(p, r); ok {
			out = append(out, Hit{Protocol: p, Priority: priorities[p.Priority], Matched: m})
		}
	}
	return out
}

func holds(p *Protocol, r *lexicon.Reading) ([]string, bool) {
	var matched []string
	affirmed := func(c string) (string, bool) {
		for _, f := range r.Findings {
			if f.Concept == c && f.Affirmed() {
				return f.Text, true
			}
		}
		return "", false
	}
	for _, c := range p.All {
		t, ok := affirmed(c)
		if !ok {
			return nil, false
		}
		matched = append(matched, t)
	}
	for _, g := range p.Any {
		found := false
		for _, c := range g {
			if t, ok := affirmed(c); ok {
				matched, found = append(matched, t), true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	for _, c := range p.None {
		if _, ok := affirmed(c); ok {
			return nil, false
		}
	}
	if len(p.Negated) > 0 {
		found := false
		for _, f := range r.Findings {
			for _, c := range p.Negated {
				if f.Concept == c && f.Negated {
					matched, found = append(matched, f.Text), true
				}
			}
		}
		if !found {
			return nil, false
		}
	}
	for _, q := range p.Quantities {
		found := false
		for _, x := range r.Quantities {
			if x.Kind == q.Kind && (q.Min == nil || x.Value >= *q.Min) && (q.Max == nil || x.Value < *q.Max) {
				matched, found = append(matched, x.Text), true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return matched, true
}
