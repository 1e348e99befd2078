package triage

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/portico-health/portico/triage/lexicon"
	"github.com/portico-health/portico/triage/model"
	"github.com/portico-health/portico/triage/protocol"
)

// Engine decides a message's priority and category in layers (docs/triage.md):
//
//  1. the language, by script, the lexicons' words and trigram models;
//  2. the clinical reading: concepts with their context (negated, past, hypothetical, someone
//     else's) and quantities, from the lexicon of the language (and English);
//  3. the floor: red-flag protocols over that reading, and the answers to the screening
//     Questionnaire when the patient answered it;
//  4. the learned layer, which sets the category and may raise the priority, never lower it;
//  5. what no layer may leave quiet: a language Portico cannot read is at least urgent and
//     goes to an interpreter; layers that disagree go to a person for review.
//
// It is safe for concurrent use.
type Engine struct {
	Lex        *lexicon.Lexicons
	Protocols  *protocol.Set
	Model      *model.Model
	Thresholds model.Thresholds
}

var (
	defOnce sync.Once
	defEng  *Engine
	defErr  error
)

// Default is the engine with the shipped lexicons, protocols, model and thresholds.
func Default() (*Engine, error) {
	defOnce.Do(func() {
		m, err := model.Default()
		if err != nil {
			defErr = err
			return
		}
		defEng = &Engine{Lex: lexicon.Default(), Protocols: protocol.Default(), Model: m, Thresholds: model.DefaultThresholds()}
	})
	return defEng, defErr
}

// New is an engine with the shipped lexicons, model and thresholds, and the protocol file at
// path ("" for the shipped one).
func New(protocolPath string) (*Engine, error) {
	d, err := Default()
	if err != nil {
		return nil, err
	}
	if protocolPath == "" {
		return d, nil
	}
	p, err := protocol.Load(protocolPath, d.Lex)
	if err != nil {
		return nil, err
	}
	e := *d
	e.Protocols = p
	return &e, nil
}

// PatientHintCap is the most a patient's own priority raises a message to: a patient cannot
// page the on-call team by ticking a box, but one who says it is urgent is read within hours.
const PatientHintCap = ASAP

// Read is the first two layers for one message: the language and the reading of its text
// (all parts joined), as the model's features and the protocols see them.
func (e *Engine) Read(m Message) (lexicon.Identification, lexicon.Reading) {
	return Read(e.Lex, m)
}

// Read is Engine.Read for lexicons alone (the model's trainer reads with it).
func Read(lex *lexicon.Lexicons, m Message) (lexicon.Identification, lexicon.Reading) {
	text := m.joined()
	id := lex.Identify(text)
	return id, lex.Read(text, activeLanguages(lex, id, m.Language))
}

// Features are the learned layer's features of a message read with Read, with the protocols
// that hold for it (the model learns what each red flag means beside the rest of the text).
func Features(id lexicon.Identification, r *lexicon.Reading, hits []protocol.Hit, names bool) model.Features {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.Protocol.ID
	}
	return model.Extract(r.Text, r, id.Lang, ids, names)
}

// joined is every part of the message triage reads, in one text (clauses kept apart), bounded
// (bounded).
func (m Message) joined() string {
	text, _ := bounded(m.joined0())
	return text
}

// joined0 is joined before it is bounded.
func (m Message) joined0() string {
	parts := []string{m.Text}
	if m.Topic != "" {
		parts = append(parts, m.Topic)
	}
	parts = append(parts, m.ReasonCodes...)
	parts = append(parts, m.AttachmentTitles...)
	return strings.Join(parts, "\n")
}

// What triage reads of a message: reading costs more than linear time in the length of a word
// (typo matching) and of the text, so one message of one 40,000-letter word took 38 s and
// 1.7 GB. No clinical word is longer than maxWordRunes, and a portal message rarely longer than
// maxTextRunes (about 1,000 words); what is cut is not read, and the message goes to a person (Classify).
const (
	maxWordRunes = 48
	maxTextRunes = 6_000
)

// bounded is text with every run of letters longer than maxWordRunes cut to that length, and
// at most maxTextRunes runes; cut reports whether anything was left out.
func bounded(text string) (out string, cut bool) {
	var b strings.Builder
	word, total := 0, 0
	for _, r := range text {
		if unicode.IsSpace(r) || unicode.IsPunct(r) {
			word = 0
		} else if word++; word > maxWordRunes {
			cut = true
			continue
		}
		if total++; total > maxTextRunes {
			return b.String(), true
		}
		b.WriteRune(r)
	}
	return b.String(), cut
}

// activeLanguages are the lexicons a message is read with: its language, any other served
// language with evidence in it, English (code-switching), and the Communication.language
// hint; when the language is not served or not certain, every lexicon (a red flag written in
// any language Portico knows is still caught).
func activeLanguages(lex *lexicon.Lexicons, id lexicon.Identification, hint string) []string {
	if !id.Certain {
		return lex.Languages()
	}
	langs := append([]string{id.Lang, "en"}, id.Others...)
	if h, _, _ := strings.Cut(strings.ToLower(hint), "-"); h != "" {
		if _, ok := lex.Files[h]; ok {
			langs = append(langs, h)
		}
	}
	slices.Sort(langs)
	return slices.Compact(langs)
}

// Classify returns the priority, category and reasons of a message. It is deterministic.
func (e *Engine) Classify(m Message) Result {
	id, reading := e.Read(m)
	// An interpreter is needed when the text is in a language Portico has no lexicon for; a
	// served language read with less certainty is read with every lexicon instead, and a few
	// words in no known language ("hi", "??") need no interpreter.
	res := Result{Language: id.Lang, Served: id.Served || id.Lang == "und" && words(&reading) <= 3}

	// The floor: protocols, then screening answers.
	hits := e.Protocols.Evaluate(&reading)
	for _, h := range hits {
		p := Priority(h.Priority)
		res.Floor = max(res.Floor, p)
		res.Reasons = append(res.Reasons, Reason{Rule: h.Protocol.ID, Kind: KindProtocol, Field: FieldText,
			Matched: strings.Join(h.Matched, " + "), Priority: p})
	}
	for _, item := range ScreeningItems {
		if m.Screening[item.LinkID] {
			res.Floor = max(res.Floor, item.Priority)
			res.Reasons = append(res.Reasons, Reason{Rule: item.LinkID, Kind: KindScreening, Field: FieldScreening,
				Matched: "yes", Priority: item.Priority})
		}
	}
	// Findings set aside, for the clinician: "chest pain, set aside by 'no'".
	for _, f := range reading.Findings {
		if !f.Affirmed() {
			res.Reasons = append(res.Reasons, Reason{Rule: f.Concept, Kind: KindFinding, Field: FieldText,
				Matched: f.Text, Negated: true, Cue: f.Cue})
		}
	}

	// The learned layer.
	feats := Features(id, &reading, hits, true)
	probs := e.Model.PriorityProbs(feats)
	copy(res.Probs[:], probs)
	res.Model = Priority(e.Thresholds.Priority(probs))
	cats := e.Model.CategoryProbs(feats)
	best := 0
	for k := range cats {
		if cats[k] > cats[best] {
			best = k
		}
	}
	res.Category = model.Categories[best]
	res.Priority = max(res.Floor, res.Model)
	if res.Model > res.Floor {
		res.Reasons = append(res.Reasons, Reason{Rule: "model", Kind: KindModel, Field: FieldText,
			Matched: strings.Join(e.Model.TopPriorityFeatures(feats, int(res.Model), 5), ", "), Priority: res.Model})
	}

	// A language Portico cannot read: at least urgent, and an interpreter.
	if !res.Served {
		res.Interpreter = true
		if res.Priority < Urgent {
			res.Priority = Urgent
		}
		res.Reasons = append(res.Reasons, Reason{Rule: "language", Kind: KindLanguage, Field: FieldText,
			Matched: id.Lang + " (" + id.Why + ")", Priority: Urgent})
	}
	// The patient's own priority, capped.
	if p, ok := ParsePriority(m.PatientPriorityHint); ok && m.PatientPriorityHint != "" {
		p = min(p, PatientHintCap)
		res.Priority = max(res.Priority, p)
		res.Reasons = append(res.Reasons, Reason{Rule: "patient-hint", Kind: KindHint, Field: FieldHint,
			Matched: m.PatientPriorityHint, Priority: p})
	}

	// Uncertainty goes to a person: a message left below asap that the model thinks may be
	// serious, or that no one at the practice can read yet.
	serious := probs[2] + probs[3]
	_, cut := bounded(m.joined0())
	switch {
	case res.Priority >= ASAP:
	case cut:
		res.Review, res.ReviewWhy = true, "a message too long to be read whole"
	case serious >= e.Thresholds.Review:
		res.Review, res.ReviewWhy = true, fmt.Sprintf("the model gives %.0f%% to asap or stat", serious*100)
	case res.Interpreter:
		res.Review, res.ReviewWhy = true, "a language Portico cannot triage"
	}
	return res
}

// words counts the words of a reading (numbers aside; a Han or Hangul character is half a word).
func words(r *lexicon.Reading) int {
	n := 0
	for _, t := range r.Tokens {
		switch {
		case t.Number:
		case t.Char:
			n++
		default:
			n += 2
		}
	}
	return n / 2
}
