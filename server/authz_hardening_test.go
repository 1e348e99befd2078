package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// searchset is the part of a search Bundle these tests read.
type searchset struct {
	Total *int `json:"total"`
	Link  []struct{ Relation, URL string }
	Entry []struct {
		Resource struct {
			ResourceType, ID string
		}
	}
}

func (en *authEnv) searchset(tok, path string) searchset {
	en.t.Helper()
	b := en.must(tok, http.MethodGet, path, "", http.StatusOK)
	var s searchset
	if err := json.Unmarshal(b, &s); err != nil {
		en.t.Fatalf("GET %s: %v", path, err)
	}
	return s
}

// obsFor is an Observation of subject (and performer, when not ""), with an identifier.
func obsFor(id, subject, performer, ident, category string) string {
	s := `{"resourceType":"Observation",`
	if id != "" {
		s += `"id":"` + id + `",`
	}
	if ident != "" {
		s += `"identifier":[{"system":"urn:test","value":"` + ident + `"}],`
	}
	s += `"status":"final"`
	if category != "" {
		s += `,"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"` + category + `"}]}]`
	}
	s += `,"code":{"text":"x"},"subject":{"reference":"Patient/` + subject + `"}`
	if performer != "" {
		s += `,"performer":[{"reference":"Patient/` + performer + `"}]`
	}
	return s + `}`
}

// TestPatientSearchPages: a patient token's reach over Observation (subject OR performer)
// goes into the store query, so every page but the last holds _count resources and the total
// counts exactly what the patient may see.
func TestPatientSearchPages(t *testing.T) {
	en := newAuthEnv(t)
	sys := en.systemToken("system/*.cruds")
	for _, p := range []string{"p1", "p2"} {
		en.must(sys, http.MethodPut, "/Patient/"+p, `{"resourceType":"Patient","id":"`+p+`"}`, http.StatusCreated)
	}
	// p1's 23: 12 as subject (6 vital signs), 11 as performer of p2's; p2's 20 interleaved.
	var mine, vital []string
	for i := range 43 {
		id := fmt.Sprintf("o%02d", i)
		var body string
		switch {
		case i%2 == 0 && i < 24:
			cat := "laboratory"
			if i%4 == 0 {
				cat = "vital-signs"
				vital = append(vital, "Observation/"+id)
			}
			body = obsFor(id, "p1", "", "", cat)
			mine = append(mine, "Observation/"+id)
		case i%2 == 1 && i < 23:
			body = obsFor(id, "p2", "p1", "", "laboratory")
			mine = append(mine, "Observation/"+id)
		default:
			body = obsFor(id, "p2", "", "", "vital-signs")
		}
		en.must(sys, http.MethodPut, "/Observation/"+id, body, http.StatusCreated)
	}
	if len(mine) != 23 || len(vital) != 6 {
		t.Fatalf("seed: %d mine, %d vital", len(mine), len(vital))
	}
	cat := "http://terminology.hl7.org/CodeSystem/observation-category"
	tokens := map[string]struct {
		tok  string
		want []string
	}{
		"patient/Observation.rs": {en.patientToken("p1", "launch/patient patient/Observation.rs"), mine},
		"granular vital signs":   {en.patientToken("p1", "launch/patient patient/Observation.rs?category="+cat+"|vital-signs"), vital},
		// Two alternatives (two granular scopes), each over both compartment parameters.
		"two granular scopes": {en.patientToken("p1", "launch/patient patient/Observation.rs?category="+cat+"|vital-signs patient/Observation.rs?category="+cat+"|laboratory"), mine},
	}
	for name, tc := range tokens {
		for _, count := range []int{5, 23, 50} {
			path := fmt.Sprintf("/Observation?_count=%d&_total=accurate", count)
			var got []string
			for page := 0; path != ""; page++ {
				s := en.searchset(tc.tok, path)
				if s.Total == nil || *s.Total != len(tc.want) {
					t.Errorf("%s _count=%d page %d: total %v, want %d", name, count, page, s.Total, len(tc.want))
				}
				path = ""
				for _, l := range s.Link {
					if l.Relation == "next" {
						path = strings.TrimPrefix(l.URL, en.base)
					}
				}
				if path != "" && len(s.Entry) != count {
					t.Errorf("%s _count=%d page %d: %d entries before the last page", name, count, page, len(s.Entry))
				}
				for _, e := range s.Entry {
					got = append(got, e.Resource.ResourceType+"/"+e.Resource.ID)
				}
				if page > 10 {
					t.Fatalf("%s: paging does not end", name)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s _count=%d: got %v\nwant %v", name, count, got, tc.want)
			}
		}
		if s := en.searchset(tc.tok, "/Observation?_summary=count"); s.Total == nil || *s.Total != len(tc.want) || len(s.Entry) != 0 {
			t.Errorf("%s _summary=count: total %v, want %d", name, s.Total, len(tc.want))
		}
		// Sorted, and with a parameter of its own, the pages stay full and exact.
		s := en.searchset(tc.tok, "/Observation?_count=4&_sort=-_lastUpdated&_total=accurate&subject=Patient/p2")
		want := 11 // p2's that p1 performed, all laboratory
		if name == "granular vital signs" {
			want = 0
		}
		if s.Total == nil || *s.Total != want || len(s.Entry) != min(4, want) {
			t.Errorf("%s subject=Patient/p2: total %v, %d entries", name, s.Total, len(s.Entry))
		}
	}
}

// TestConditionalOperationsDoNotLeak: the search of a conditional create, update or delete
// (also inside batch and transaction Bundles, and conditional references) sees only what the
// token may search, so its outcome tells nothing of other patients' resources.
func TestConditionalOperationsDoNotLeak(t *testing.T) {
	en := newAuthEnv(t)
	sys := en.systemToken("system/*.cruds")
	for _, p := range []string{"p1", "p2"} {
		en.must(sys, http.MethodPut, "/Patient/"+p, `{"resourceType":"Patient","id":"`+p+`","identifier":[{"system":"urn:mrn","value":"mrn-`+p+`"}]}`, http.StatusCreated)
	}
	for _, ident := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		en.must(sys, http.MethodPut, "/Observation/theirs-"+ident, obsFor("theirs-"+ident, "p2", "", "x-"+ident, ""), http.StatusCreated)
	}
	p1 := en.patientToken("p1", "launch/patient patient/*.cruds")
	readOnly := en.patientToken("p1", "launch/patient patient/Observation.rs")
	untouched := func(what string) {
		t.Helper()
		for _, ident := range []string{"a", "b", "c", "d", "e", "f", "g"} {
			b := en.must(sys, http.MethodGet, "/Observation/theirs-"+ident, "", http.StatusOK)
			if !strings.Contains(string(b), `"versionId":"1"`) {
				t.Errorf("%s: p2's Observation x-%s was changed: %s", what, ident, b)
			}
		}
	}
	ownCount := func(ident string) int {
		return len(en.searchset(p1, "/Observation?identifier=urn:test|"+ident).Entry)
	}

	// Conditional create: another patient's match is no match; the patient's own is.
	status, _, b := en.do(p1, http.MethodPost, "/Observation", obsFor("", "p1", "", "x-a", ""), "If-None-Exist", "identifier=urn:test|x-a")
	if status != http.StatusCreated || strings.Contains(string(b), "theirs") {
		t.Errorf("conditional create over p2's match: %d %s", status, b)
	}
	status, _, b = en.do(p1, http.MethodPost, "/Observation", obsFor("", "p1", "", "x-a", ""), "If-None-Exist", "identifier=urn:test|x-a")
	if status != http.StatusOK || strings.Contains(string(b), "theirs") {
		t.Errorf("conditional create over its own match: %d %s", status, b)
	}
	// Without create the answer is 403 whether or not another patient's resource matches.
	for _, ident := range []string{"x-b", "nothing"} {
		status, _, b = en.do(readOnly, http.MethodPost, "/Observation", obsFor("", "p1", "", ident, ""), "If-None-Exist", "identifier=urn:test|"+ident)
		if status != http.StatusForbidden {
			t.Errorf("conditional create without create scope (%s): %d %s", ident, status, b)
		}
	}
	// Conditional update: creates the patient's own; conditional delete: nothing to delete.
	en.must(p1, http.MethodPut, "/Observation?identifier=urn:test|x-c", obsFor("", "p1", "", "x-c", ""), http.StatusCreated)
	en.must(p1, http.MethodDelete, "/Observation?identifier=urn:test|x-d", "", http.StatusNoContent)
	en.must(readOnly, http.MethodDelete, "/Observation?identifier=urn:test|x-d", "", http.StatusForbidden)
	en.must(readOnly, http.MethodPut, "/Observation?identifier=urn:test|x-d", obsFor("", "p1", "", "x-d", ""), http.StatusForbidden)
	// A match the patient can see is still updated and deleted.
	en.must(p1, http.MethodPut, "/Observation?identifier=urn:test|x-c", obsFor("", "p1", "", "x-c", "laboratory"), http.StatusOK)
	en.must(p1, http.MethodDelete, "/Observation?identifier=urn:test|x-c", "", http.StatusNoContent)
	untouched("conditional interactions")
	if n := ownCount("x-a"); n != 1 {
		t.Errorf("x-a: the patient has %d, want 1", n)
	}

	// The same inside Bundles: every entry's criteria see only the patient's resources.
	for _, typ := range []string{"batch", "transaction"} {
		ident := map[string]string{"batch": "x-e", "transaction": "x-f"}[typ]
		body := `{"resourceType":"Bundle","type":"` + typ + `","entry":[
			{"fullUrl":"urn:uuid:0c3a4c54-8f5e-4a8e-9d1a-000000000001","request":{"method":"POST","url":"Observation","ifNoneExist":"identifier=urn:test|` + ident + `"},"resource":` + obsFor("", "p1", "", ident, "") + `},
			{"fullUrl":"urn:uuid:0c3a4c54-8f5e-4a8e-9d1a-000000000002","request":{"method":"PUT","url":"Observation?identifier=urn:test|x-g"},"resource":` + obsFor("", "p1", "", "x-g", "") + `},
			{"request":{"method":"DELETE","url":"Observation?identifier=urn:test|x-b"}}
		]}`
		status, _, b := en.do(p1, http.MethodPost, "", body)
		if status != http.StatusOK || strings.Contains(string(b), "theirs") {
			t.Fatalf("%s: %d %s", typ, status, b)
		}
		var resp struct {
			Entry []struct{ Response struct{ Status string } }
		}
		_ = json.Unmarshal(b, &resp)
		want := []string{"201", "201", "204"}
		if typ == "transaction" { // the batch created p1's x-g: now it is the patient's match
			want[1] = "200"
		}
		for i, e := range resp.Entry {
			if !strings.HasPrefix(e.Response.Status, want[i]) {
				t.Errorf("%s entry %d: %s, want %s", typ, i, e.Response.Status, want[i])
			}
		}
		untouched(typ)
	}

	// A conditional reference resolves only among what the patient may search.
	ref := func(criteria string) string {
		return `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},
			"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?` + criteria + `"}}}]}`
	}
	en.must(p1, http.MethodPost, "", ref("identifier=urn:mrn|mrn-p1"), http.StatusOK)
	status, _, b = en.do(p1, http.MethodPost, "", ref("identifier=urn:mrn|mrn-p2"))
	if status != http.StatusPreconditionFailed || strings.Contains(string(b), "Patient/p2") {
		t.Errorf("conditional reference to p2: %d %s", status, b)
	}
	if status2, _, b2 := en.do(p1, http.MethodPost, "", ref("identifier=urn:mrn|mrn-nobody")); status2 != status {
		t.Errorf("a reference to p2 and to nobody answer differently: %d, %d %s", status, status2, b2)
	}
}
