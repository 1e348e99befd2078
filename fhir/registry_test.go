package fhir

import (
	"strings"
	"testing"
)

// TestSearchParamRegistry: every published parameter of every resource type either compiles,
// selecting only types the extractor indexes for its kind, or is in the skip list with a
// reason. No silent gaps.
func TestSearchParamRegistry(t *testing.T) {
	n := 0
	for _, rt := range ResourceTypes {
		for _, err := range CheckSearchParams(rt) {
			t.Errorf("%s: %v", rt, err)
		}
		n += len(compiledParams(rt))
	}
	if n < 2000 {
		t.Errorf("only %d parameters compiled", n)
	}
	for key := range skipParams {
		base, code, _ := strings.Cut(key, ".")
		found := false
		for _, sp := range SearchParams(base) {
			found = found || sp.Code == code
		}
		if !found {
			t.Errorf("skip list names %s, which is no parameter", key)
		}
	}
	for _, s := range SkippedSearchParams() {
		t.Log("skipped:", s)
	}
}
