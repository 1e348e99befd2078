package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/portico-health/portico/triage/model"
)

// TestShippedModelIsFresh: the shipped weights and thresholds are what go generate makes from
// the development corpus with today's lexicons and protocols. A lexicon or protocol change
// without retraining fails here (run go generate ./triage/model).
func TestShippedModelIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("trains six models")
	}
	weights, thresholds, err := build("../../../../testdata/triage/corpus/dev.jsonl", model.DefaultOptions, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"../../weights.bin.gz": weights, "../../thresholds.json": thresholds} {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what go generate ./triage/model makes now: retrain", name)
		}
	}
}
