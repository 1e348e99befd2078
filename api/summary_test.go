package api_test

import (
	"net/http"
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
