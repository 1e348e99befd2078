package fhir

import (
	"bytes"
	"testing"
)

// maxFuzzInput caps fuzz inputs: larger documents find nothing new and slow the fuzzer down.
const maxFuzzInput = 64 << 10

// FuzzParseResource: no input makes ParseResource panic, and whatever it accepts is encoded as
// JSON that it accepts again, unchanged.
func FuzzParseResource(f *testing.F) {
	for _, data := range readFixtures(f) {
		f.Add(data)
	}
	for _, tc := range rejectionCases {
		f.Add([]byte(tc.json))
	}
	for _, tc := range acceptedCases {
		f.Add([]byte(tc.json))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip("input larger than maxFuzzInput")
		}
		r, err := ParseResource(data)
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("error of type %T, want *ValidationError", err)
			}
			return
		}
		out := r.JSON()
		again, err := ParseResource(out)
		if err != nil {
			t.Fatalf("accepted input encodes to rejected JSON %s: %v", out, err)
		}
		if !bytes.Equal(again.JSON(), out) {
			t.Fatalf("encoding is not stable:\n%s\n%s", out, again.JSON())
		}
	})
}
