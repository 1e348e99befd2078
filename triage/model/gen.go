package model

//go:generate go run ./internal/gen -corpus ../../testdata/triage/corpus/dev.jsonl -weights weights.bin.gz -thresholds thresholds.json
