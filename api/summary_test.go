package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestSummaryTrueNested: _summary=true prunes inside the kept elements too, by each child's
// summary flag: an Observation's components keep code and value but lose referenceRange and
// interpretation; a Patient's names keep every HumanName element but not their extensions
// (Element.extension is not a summary element); mandatory children stay.
func TestSummaryTrueNested(t *testing.T) {
	s := newServer(t)
	obs := s.do("PUT", "/Observation/bp", `{"resourceType":"Observation","id":"bp","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}],"text":"Blood pressure"},
		"note":[{"text":"not summary"}],
		"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
			"valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"},
			"interpretation":[{"text":"normal"}],
			"referenceRange":[{"low":{"value":90,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}]}`)
	wantStatus(t, obs, http.StatusCreated)
	pat := s.do("PUT", "/Patient/p", `{"resourceType":"Patient","id":"p",
		"name":[{"extension":[{"url":"http://example.org/pronunciation","valueString":"SHAW"}],"family":"Shaw","given":["Amy"],"period":{"start":"2001"}}],
		"contact":[{"name":{"family":"Shaw"}}]}`)
	wantStatus(t, pat, http.StatusCreated)

	r := s.do("GET", "/Observation?_id=bp&_summary=true", "")
	wantStatus(t, r, http.StatusOK)
	b := parse(t, r.Body)
	res := b.Get("entry").Arr[0].Get("resource")
	comp := res.Get("component").Arr[0]
	if comp.Get("code") == nil || comp.Get("valueQuantity") == nil || comp.Get("valueQuantity").Get("value") == nil {
		t.Errorf("a component lost a summary element: %s", comp.Marshal())
	}
	if comp.Get("referenceRange") != nil || comp.Get("interpretation") != nil || res.Get("note") != nil {
		t.Errorf("non-summary elements kept: %s", res.Marshal())
	}
	if res.Get("code").Get("text") == nil || res.Get("code").Get("coding").Arr[0].Get("system") == nil {
		t.Errorf("a CodeableConcept lost summary children: %s", res.Get("code").Marshal())
	}

	r = s.do("GET", "/Patient?_id=p&_summary=true", "")
	wantStatus(t, r, http.StatusOK)
	b = parse(t, r.Body)
	res = b.Get("entry").Arr[0].Get("resource")
	name := res.Get("name").Arr[0]
	if name.Get("family") == nil || name.Get("given") == nil || name.Get("period").Get("start") == nil {
		t.Errorf("a name lost summary elements: %s", name.Marshal())
	}
	if name.Get("extension") != nil || res.Get("contact") != nil {
		t.Errorf("non-summary elements kept: %s", res.Marshal())
	}

	// _summary=data and _elements still choose top-level elements only.
	r = s.do("GET", "/Observation?_id=bp&_summary=data", "")
	b = parse(t, r.Body)
	res = b.Get("entry").Arr[0].Get("resource")
	if res.Get("component").Arr[0].Get("referenceRange") == nil || res.Get("note") == nil {
		t.Errorf("_summary=data pruned below the top level: %s", res.Marshal())
	}
}

// TestReadSummary: a read and a vread honour _summary and _elements exactly as a search does
// (the same subset, tagged SUBSETTED), also as entries of a batch; _summary=false or none is
// the stored resource untouched; _summary=count, or a value that is not one, is 400.
func TestReadSummary(t *testing.T) {
	s := newServer(t)
	wantStatus(t, s.do("PUT", "/Observation/bp", `{"resourceType":"Observation","id":"bp","status":"final",
		"meta":{"tag":[{"system":"http://example.org/tags","code":"portal"}]},
		"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">120 mmHg</div>"},
		"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}],"text":"Blood pressure"},
		"subject":{"reference":"Patient/p"},"note":[{"text":"not summary"}],
		"component":[{"code":{"text":"systolic"},"valueQuantity":{"value":120,"unit":"mmHg"},
			"referenceRange":[{"text":"90-120"}]}]}`), http.StatusCreated)
	wantStatus(t, s.do("PUT", "/Observation/bp", `{"resourceType":"Observation","id":"bp","status":"amended",
		"code":{"text":"Blood pressure"},"note":[{"text":"second version"}]}`), http.StatusOK)
	stored := s.do("GET", "/Observation/bp/_history/1", "")
	wantStatus(t, stored, http.StatusOK)

	searched := func(query string) string { // the resource as a search returns it
		t.Helper()
		r := s.do("GET", "/Observation?_id=bp&"+query, "")
		wantStatus(t, r, http.StatusOK)
		b := parse(t, r.Body)
		return string(b.Get("entry").Arr[0].Get("resource").Marshal())
	}
	for _, query := range []string{"_summary=true", "_summary=text", "_summary=data", "_elements=status,note", "_elements=component&_summary=false"} {
		t.Run(query, func(t *testing.T) {
			cur := s.do("GET", "/Observation/bp?"+query, "")
			wantStatus(t, cur, http.StatusOK)
			if got, want := string(cur.Body), searched(query); got != want {
				t.Errorf("read:\n%s\nsearch:\n%s", got, want)
			}
			if cur.Header.Get("ETag") != `W/"2"` || cur.Header.Get("Content-Type") != "application/fhir+json; charset=utf-8" {
				t.Errorf("headers %v", cur.Header)
			}
			if !strings.Contains(string(cur.Body), `"code":"SUBSETTED"`) {
				t.Errorf("no SUBSETTED tag: %s", cur.Body)
			}
			old := s.do("GET", "/Observation/bp/_history/1?"+query, "")
			wantStatus(t, old, http.StatusOK)
			if !strings.Contains(string(old.Body), `"code":"SUBSETTED"`) || strings.Contains(string(old.Body), "second version") ||
				!strings.Contains(string(old.Body), `"code":"portal"`) {
				t.Errorf("vread: %s", old.Body)
			}
		})
	}
	sum := parse(t, s.do("GET", "/Observation/bp/_history/1?_summary=true", "").Body)
	if sum.Get("note") != nil || sum.Get("text") != nil || sum.Get("component").Arr[0].Get("referenceRange") != nil ||
		sum.Get("code") == nil || sum.Get("subject") == nil || sum.Get("status") == nil {
		t.Errorf("_summary=true: %s", sum.Marshal())
	}
	for _, query := range []string{"", "?_summary=false", "?_format=json"} {
		if r := s.do("GET", "/Observation/bp/_history/1"+query, ""); string(r.Body) != string(stored.Body) {
			t.Errorf("%q: not the stored bytes: %s", query, r.Body)
		}
	}
	wantOutcome(t, s.do("GET", "/Observation/bp?_summary=count", ""), http.StatusBadRequest, "invalid")
	wantOutcome(t, s.do("GET", "/Observation/bp/_history/1?_summary=yes", ""), http.StatusBadRequest, "invalid")
	wantOutcome(t, s.do("GET", "/Observation/nope?_summary=true", ""), http.StatusNotFound, "not-found")

	// In a batch too: a read entry with _elements.
	r := s.do("POST", "", bundleOf("batch", ent("", "GET", "Observation/bp?_elements=status", ""),
		ent("", "GET", "Observation/bp/_history/1?_summary=count", "")))
	es := entryResponses(t, r, "batch-response")
	res := es[0].Get("resource")
	if status(es[0]) != "200 OK" || res == nil || res.Get("note") != nil || res.Get("status").Text != "amended" ||
		!strings.Contains(string(res.Marshal()), "SUBSETTED") {
		t.Errorf("batch read with _elements: %s", es[0].Marshal())
	}
	if status(es[1]) != "400 Bad Request" {
		t.Errorf("batch vread with _summary=count: %s", es[1].Marshal())
	}
}
