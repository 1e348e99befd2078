// Package model is triage's learned layer: two multinomial logistic regressions over hashed
// features of a message (its words and word pairs, character n-grams in Chinese and Korean,
// and what the lexicons read in it: concepts with their context, quantities in clinical bands,
// the protocols that held, the language), one for the priority and one for the category. The weights are trained from
// the development corpus by ./train (go generate) and embedded; scoring is pure Go, a few
// microseconds a message. The model can only raise a priority (package triage): the red-flag
// protocols are the floor.
package model

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/portico-health/portico/triage/lexicon"
)

// Bits is the size of the hashed feature space: 2^Bits buckets.
const Bits = 18

// Priorities and Categories are the classes, in the order of the weights' columns.
var (
	Priorities = []string{"routine", "urgent", "asap", "stat"}
	Categories = []string{"medication", "appointment", "test-results", "billing", "administrative", "clinical", "other"}
)

// Model is a trained pair of classifiers.
type Model struct {
	Priority, Category Table
	// Meta says how it was trained (examples, epochs, regularisation), for the record.
	Meta string
}

// Table is one classifier's weights: for each feature bucket that training saw (Keys, sorted),
// one weight a class (W[i*K+k]), and a bias a class. Compact: a few MB for the whole model.
type Table struct {
	K    int
	Keys []uint32
	W    []float32
	Bias []float32
}

// row is the weights of bucket b, nil when training never saw it.
func (t *Table) row(b uint32) []float32 {
	i := sort.Search(len(t.Keys), func(i int) bool { return t.Keys[i] >= b })
	if i == len(t.Keys) || t.Keys[i] != b {
		return nil
	}
	return t.W[i*t.K : (i+1)*t.K]
}

// Features are the hashed features of a message, each once, with the names kept for reasons.
type Features struct {
	Buckets []uint32
	Names   []string // the same order; only when names were asked for
}

// Extract computes the features of a message from its text and reading.
func Extract(text string, r *lexicon.Reading, lang string, protocols []string, names bool) Features {
	seen := map[uint32]bool{}
	var f Features
	add := func(name string) {
		h := fnv.New32a()
		_, _ = io.WriteString(h, name)
		b := h.Sum32() & (1<<Bits - 1)
		if seen[b] {
			return
		}
		seen[b] = true
		f.Buckets = append(f.Buckets, b)
		if names {
			f.Names = append(f.Names, name)
		}
	}
	add("bias")
	add("lang:" + lang)
	// Words and pairs of words; CJK and Hangul characters as pairs and triples.
	toks := r.Tokens
	for i, t := range toks {
		if t.Number {
			continue
		}
		add("w:" + t.Text)
		// A long word's first five letters too: the inflections and compounds of one stem
		// ("hemorrhaging", "hemorrhaged") share what it says (writer-disjoint cross-validation on
		// 6,600 and 8,100 messages: stat recall +7 and +2, routine over-triage -1.1 and -0.6 points).
		if stem, ok := firstRunes(t.Text, 5); ok && !t.Char {
			add("p:" + stem)
		}
		if i+1 < len(toks) && toks[i+1].Clause == t.Clause {
			add("ww:" + t.Text + " " + toks[i+1].Text)
			if t.Char && i+2 < len(toks) && toks[i+2].Char && toks[i+2].Clause == t.Clause {
				add("ccc:" + t.Text + toks[i+1].Text + toks[i+2].Text)
			}
		}
	}
	// What the lexicons read: language-independent evidence, which carries from one writer to
	// the next where words do not (see evidenceCopies).
	for _, fd := range r.Findings {
		mod := fd.Modifier()
		if mod == "" {
			mod = "affirmed"
		}
		add("concept:" + fd.Concept)
		for k := range evidenceCopies {
			add(fmt.Sprintf("concept%d:%s:%s", k, fd.Concept, mod))
		}
	}
	for _, q := range r.Quantities {
		add("q:" + q.Kind + ":" + band(q.Kind, q.Value))
	}
	for _, p := range protocols {
		for k := range evidenceCopies {
			add(fmt.Sprintf("protocol%d:%s", k, p))
		}
	}
	return f
}

// firstRunes returns the first n characters of s when s has more than n.
func firstRunes(s string, n int) (string, bool) {
	i := 0
	for k := range s {
		if i == n {
			return s[:k], true
		}
		i++
	}
	return "", false
}

// evidenceCopies is how many features each concept (with its context) and each protocol that
// held gives: a message's evidence then weighs as much as several of its words, in training
// and in scoring alike. The patients who write to a clinic are not the writers of the
// development split; what generalises across writers is what the lexicons read, not their
// words. Chosen by leave-one-writer-out cross-validation on the development split, with
// character 4-grams dropped for the same reason (docs/triage-evaluation.md, "Choices measured").
const evidenceCopies = 4

// band puts a quantity in a clinically meaningful band (the protocols use the same cut-offs).
func band(kind string, v float64) string {
	cuts := map[string][]float64{
		lexicon.QTemperatureC: {38, 39.4, 40.5},
		lexicon.QAgeDays:      {28, 90, 365, 365 * 3, 365 * 13, 365 * 65},
		lexicon.QGestationWk:  {20, 28, 37},
		lexicon.QSystolic:     {90, 140, 160, 180},
		lexicon.QDiastolic:    {60, 90, 110, 120},
		lexicon.QGlucose:      {54, 70, 250, 400},
		lexicon.QINR:          {2, 3, 5},
		lexicon.QPills:        {3, 10},
		lexicon.QPainScore:    {4, 7, 9},
		lexicon.QDurationHrs:  {24, 72, 168},
		lexicon.QHeartRate:    {40, 50, 100, 130, 150},
	}[kind]
	i := sort.SearchFloat64s(cuts, v)
	if i < len(cuts) && v == cuts[i] {
		i++ // a cut-off belongs to the band above it
	}
	return fmt.Sprint(i)
}

// Probabilities are the softmax of the scores.
func softmax(scores []float64) []float64 {
	m := math.Inf(-1)
	for _, s := range scores {
		m = math.Max(m, s)
	}
	sum := 0.0
	out := make([]float64, len(scores))
	for i, s := range scores {
		out[i] = math.Exp(s - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func (t *Table) score(f Features) []float64 {
	s := make([]float64, t.K)
	for k, b := range t.Bias {
		s[k] = float64(b)
	}
	scale := 1 / math.Sqrt(float64(len(f.Buckets)))
	for _, b := range f.Buckets {
		if ws := t.row(b); ws != nil {
			for k, x := range ws {
				s[k] += float64(x) * scale
			}
		}
	}
	return s
}

// PriorityProbs are P(routine), P(urgent), P(asap), P(stat).
func (m *Model) PriorityProbs(f Features) []float64 { return softmax(m.Priority.score(f)) }

// CategoryProbs are the probabilities of Categories.
func (m *Model) CategoryProbs(f Features) []float64 { return softmax(m.Category.score(f)) }

// Top contributions: the features that pushed class k most, for the reasons.
func (m *Model) TopPriorityFeatures(f Features, k, n int) []string {
	type fw struct {
		name string
		w    float32
	}
	var all []fw
	for i, b := range f.Buckets {
		if ws := m.Priority.row(b); ws != nil && i < len(f.Names) && ws[k] > 0 {
			all = append(all, fw{f.Names[i], ws[k]})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].w > all[j].w })
	var out []string
	for i := 0; i < n && i < len(all); i++ {
		out = append(out, strings.TrimPrefix(all[i].name, "w:"))
	}
	return out
}

//go:embed weights.bin.gz
var weights []byte

var (
	once     sync.Once
	shipped  *Model
	shipErr  error
	magic    = [4]byte{'P', 'T', 'M', '1'}
	errMagic = errors.New("model: not a weights file")
)

// Default is the shipped model.
func Default() (*Model, error) {
	once.Do(func() { shipped, shipErr = Decode(weights) })
	return shipped, shipErr
}

// Encode writes the model as gzip-compressed binary (little endian, sorted buckets: the same
// model always gives the same bytes, so that go generate's output can be compared).
func (m *Model) Encode() ([]byte, error) {
	var raw bytes.Buffer
	raw.Write(magic[:])
	writeStr := func(s string) {
		_ = binary.Write(&raw, binary.LittleEndian, uint32(len(s)))
		raw.WriteString(s)
	}
	writeStr(m.Meta)
	writeTable := func(t Table) {
		_ = binary.Write(&raw, binary.LittleEndian, uint32(t.K))
		_ = binary.Write(&raw, binary.LittleEndian, t.Bias)
		_ = binary.Write(&raw, binary.LittleEndian, uint32(len(t.Keys)))
		_ = binary.Write(&raw, binary.LittleEndian, t.Keys)
		_ = binary.Write(&raw, binary.LittleEndian, t.W)
	}
	writeTable(m.Priority)
	writeTable(m.Category)
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Decode reads what Encode wrote.
func Decode(data []byte) (*Model, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(raw)
	var mg [4]byte
	if _, err := io.ReadFull(r, mg[:]); err != nil || mg != magic {
		return nil, errMagic
	}
	readStr := func() (string, error) {
		var n uint32
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return "", err
		}
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return string(b), err
	}
	m := &Model{}
	if m.Meta, err = readStr(); err != nil {
		return nil, err
	}
	readTable := func() (Table, error) {
		var t Table
		var k, n uint32
		if err := binary.Read(r, binary.LittleEndian, &k); err != nil {
			return t, err
		}
		t.K, t.Bias = int(k), make([]float32, k)
		if err := binary.Read(r, binary.LittleEndian, t.Bias); err != nil {
			return t, err
		}
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return t, err
		}
		t.Keys, t.W = make([]uint32, n), make([]float32, int(n)*t.K)
		if err := binary.Read(r, binary.LittleEndian, t.Keys); err != nil {
			return t, err
		}
		return t, binary.Read(r, binary.LittleEndian, t.W)
	}
	if m.Priority, err = readTable(); err != nil {
		return nil, err
	}
	if m.Category, err = readTable(); err != nil {
		return nil, err
	}
	return m, nil
}
