package model

import (
	"bytes"
	_ "embed"
	"encoding/json"
)

// Thresholds turn the priority model's probabilities into the priority it raises a message
// to. They are chosen by cross-validation on the development corpus when the model is trained
// (./internal/gen, written to thresholds.json), so that no emergency of the corpus is left
// below stat by the model and the floor together, at the least over-triage.
type Thresholds struct {
	// Stat: P(stat) at or above it raises to stat. ASAP: P(asap)+P(stat). Urgent: 1-P(routine).
	Stat, ASAP, Urgent float64
	// Review: P(asap)+P(stat) at or above which a message left below asap goes to a person.
	Review float64
	// Note says how they were chosen, with the cross-validated figures.
	Note string
}

// Priority is the index (0 routine .. 3 stat) the probabilities point to.
func (t Thresholds) Priority(p []float64) int {
	switch {
	case p[3] >= t.Stat:
		return 3
	case p[2]+p[3] >= t.ASAP:
		return 2
	case 1-p[0] >= t.Urgent:
		return 1
	}
	return 0
}

//go:embed thresholds.json
var thresholdsJSON []byte

// DefaultThresholds are the shipped thresholds.
func DefaultThresholds() Thresholds {
	var t Thresholds
	dec := json.NewDecoder(bytes.NewReader(thresholdsJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		panic(err) // generated and tested
	}
	return t
}
