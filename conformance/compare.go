package conformance

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// maxDiffs bounds how many differences a failed comparison lists.
const maxDiffs = 8

// sameResource compares what a client sent with what the server returned, as FHIR content: the
// server owns id and meta.versionId, meta.lastUpdated and meta.source, and may add meta tags or
// a narrative the client did not send; everything else must come back as sent. Member order is
// free (JSON objects are unordered), but numbers are compared by their literal text, because in
// FHIR a decimal's precision is part of its value (1.50 is not 1.5).
func sameResource(sent, got obj) error {
	want := shallowCopy(sent)
	have := shallowCopy(got)
	delete(want, "id")
	delete(have, "id")
	if _, ok := want["text"]; !ok {
		delete(have, "text")
	}
	var diffs []string
	wantMeta, _ := want["meta"].(obj)
	haveMeta, _ := have["meta"].(obj)
	delete(want, "meta")
	delete(have, "meta")
	for k, v := range wantMeta {
		if k == "versionId" || k == "lastUpdated" || k == "source" {
			continue
		}
		diffJSON(&diffs, "meta."+k, v, haveMeta[k])
	}
	diffJSON(&diffs, str(sent, "resourceType"), want, have)
	if len(diffs) == 0 {
		return nil
	}
	if len(diffs) > maxDiffs {
		diffs = append(diffs[:maxDiffs], fmt.Sprintf("... and %d more", len(diffs)-maxDiffs))
	}
	return fmt.Errorf("content differs from what was sent:\n%s", strings.Join(diffs, "\n"))
}

func shallowCopy(o obj) obj {
	c := make(obj, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}

// DiffJSON lists the differences between want and got below path, one line each: objects by
// member (order free), arrays by position, numbers by their literal text (decode with
// json.Decoder.UseNumber). Other tests that compare FHIR content as sent use it too.
func DiffJSON(path string, want, got any) []string {
	var diffs []string
	diffJSON(&diffs, path, want, got)
	return diffs
}

// diffJSON appends to diffs one line per difference between want and got below path.
func diffJSON(diffs *[]string, path string, want, got any) {
	switch w := want.(type) {
	case obj:
		g, ok := got.(obj)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want an object", path, describe(got)))
			return
		}
		for _, k := range sortedKeys(w) {
			if _, ok := g[k]; !ok {
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			diffJSON(diffs, path+"."+k, w[k], g[k])
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: not sent, got %s", path, k, describe(g[k])))
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want an array", path, describe(got)))
			return
		}
		if len(g) != len(w) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %d elements, want %d", path, len(g), len(w)))
			return
		}
		for i := range w {
			diffJSON(diffs, fmt.Sprintf("%s[%d]", path, i), w[i], g[i])
		}
	default:
		// Scalars: strings, booleans, nil, and json.Number, whose == compares the literal text.
		if want != got {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want %s", path, describe(got), describe(want)))
		}
	}
}

// describe renders a value for a difference line: scalars as JSON, containers by kind.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case obj:
		return "an object"
	case []any:
		return fmt.Sprintf("an array of %d", len(v))
	case json.Number:
		return string(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys(o obj) []string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
