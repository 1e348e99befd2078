package api_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portico-health/portico/fhir"
)

// searchData is a small clinical data set: three patients, an organization, observations,
// communications of each priority and a risk assessment. ids maps labels to server ids.
type searchData struct {
	s   *server
	ids map[string]string
	lbl map[string]string // id -> label
}

func (d *searchData) add(label, body string) {
	d.s.t.Helper()
	id := d.s.create(body)
	d.ids[label] = id
	d.lbl[id] = label
}

// sub replaces {label} with the id of label.
func (d *searchData) sub(s string) string {
	for l, id := range d.ids {
		s = strings.ReplaceAll(s, "{"+l+"}", id)
	}
	return s
}

func newSearchData(t *testing.T) *searchData {
	s := newServer(t)
	d := &searchData{s: s, ids: map[string]string{}, lbl: map[string]string{}}
	d.add("org", `{"resourceType":"Organization","name":"Acme Health","active":true}`)
	d.add("p1", d.sub(`{"resourceType":"Patient",
		"meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"],"tag":[{"system":"http://example.org/tags","code":"portal"}]},
		"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Amy V. Shaw</div>"},
		"identifier":[{"system":"http://hospital.example.org/mrn","value":"MRN-1"}],
		"active":true,"name":[{"family":"Shaw","given":["Amy","V."]}],"gender":"female","birthDate":"1987-02-20",
		"address":[{"city":"Mounds","state":"OK"}],"managingOrganization":{"reference":"Organization/{org}"}}`))
	d.add("p2", `{"resourceType":"Patient","identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},"system":"http://hospital.example.org/mrn","value":"MRN-2"}],
		"active":false,"name":[{"family":"Müller","given":["Jörg"]}],"gender":"male","birthDate":"1990-06-15"}`)
	d.add("p3", `{"resourceType":"Patient","meta":{"source":"http://example.org/feeds/adt"},"identifier":[{"system":"urn:x","value":"A,B"}],
		"name":[{"family":"Shawn","given":["Bob"]}],"gender":"male"}`)
	obs := func(label, patient, code, display, date, value, unit string) {
		d.add(label, d.sub(fmt.Sprintf(`{"resourceType":"Observation","status":"final",
			"code":{"coding":[{"system":"http://loinc.org","code":%q,"display":%q}]},
			"subject":{"reference":"Patient/{%s}"},"effectiveDateTime":%q,
			"valueQuantity":{"value":%s,"unit":%q,"system":"http://unitsofmeasure.org","code":%q},
			"note":[{"text":"not a summary element"}]}`, code, display, patient, date, value, unit, unit)))
	}
	obs("temp1", "p1", "8310-5", "Body temperature", "2024-05-01T10:30:00Z", "37.5", "Cel")
	obs("temp2", "p2", "8310-5", "Body temperature", "2024-06-01", "38.2", "Cel")
	obs("hr", "p1", "8867-4", "Heart rate", "2023-01-15", "72", "/min")
	for _, prio := range []string{"routine", "stat", "urgent", "asap"} {
		d.add("c-"+prio, d.sub(fmt.Sprintf(`{"resourceType":"Communication","status":"in-progress","priority":%q,
			"subject":{"reference":"Patient/{p1}"},"payload":[{"contentString":"message"}]}`, prio)))
	}
	d.add("byident", `{"resourceType":"Observation","status":"final","code":{"text":"weight"},
		"subject":{"identifier":{"system":"urn:ssn","value":"123-45"}}}`)
	d.add("risk", d.sub(`{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/{p1}"},
		"prediction":[{"probabilityDecimal":0.25}]}`))
	return d
}

// bundle is a parsed searchset.
type bundle struct {
	v       fhir.Value
	match   []string // labels (or ids) of match entries, in order
	include []string
	outcome bool
	total   string
	next    string
	self    string
}

func (d *searchData) parseBundle(t *testing.T, r response) bundle {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	v := parse(t, r.Body)
	if rt := v.Get("resourceType"); rt == nil || rt.Text != "Bundle" || v.Get("type").Text != "searchset" {
		t.Fatalf("not a searchset: %s", r.Body)
	}
	b := bundle{v: v}
	if tot := v.Get("total"); tot != nil {
		b.total = tot.Text
	}
	if links := v.Get("link"); links != nil {
		for _, l := range links.Arr {
			switch l.Get("relation").Text {
			case "next":
				b.next = l.Get("url").Text
			case "self":
				b.self = l.Get("url").Text
			}
		}
	}
	if entries := v.Get("entry"); entries != nil {
		for _, e := range entries.Arr {
			mode := e.Get("search").Get("mode").Text
			if mode == "outcome" {
				b.outcome = true
				continue
			}
			id := e.Get("resource").Get("id").Text
			if want := d.s.URL + "/" + e.Get("resource").Get("resourceType").Text + "/" + id; e.Get("fullUrl").Text != want {
				t.Errorf("fullUrl %q, want %q", e.Get("fullUrl").Text, want)
			}
			if l, ok := d.lbl[id]; ok {
				id = l
			}
			if mode == "match" {
				b.match = append(b.match, id)
			} else {
				b.include = append(b.include, id)
			}
		}
	}
	return b
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestSearch(t *testing.T) {
	d := newSearchData(t)
	tests := []struct {
		name, path string
		want       []string // match labels, any order
		ordered    bool     // want is in order
	}{
		// string
		{"string starts-with", "/Patient?family=shaw", []string{"p1", "p3"}, false},
		{"string exact", "/Patient?family:exact=Shaw", []string{"p1"}, false},
		{"string exact is case-sensitive", "/Patient?family:exact=shaw", nil, false},
		{"string contains", "/Patient?family:contains=ll", []string{"p2"}, false},
		{"string accents", "/Patient?name=muller", []string{"p2"}, false},
		{"string given", "/Patient?given=amy", []string{"p1"}, false},
		{"string OR", "/Patient?family=muller,shawn", []string{"p2", "p3"}, false},
		{"string AND", "/Patient?family=shaw&gender=male", []string{"p3"}, false},
		// token
		{"token code", "/Patient?gender=male", []string{"p2", "p3"}, false},
		{"token system|code", "/Patient?identifier=http://hospital.example.org/mrn|MRN-1", []string{"p1"}, false},
		{"token system|", "/Patient?identifier=http://hospital.example.org/mrn|", []string{"p1", "p2"}, false},
		{"token |code", "/Patient?identifier=|MRN-1", nil, false},
		{"token escaped comma", `/Patient?identifier=urn:x|A\,B`, []string{"p3"}, false},
		{"token boolean", "/Patient?active=true", []string{"p1"}, false},
		{"token not", "/Patient?gender:not=male", []string{"p1"}, false},
		{"token text", "/Observation?code:text=heart", []string{"hr"}, false},
		{"token _tag", "/Patient?_tag=http://example.org/tags|portal", []string{"p1"}, false},
		{"_id", "/Patient?_id={p1},{p3}", []string{"p1", "p3"}, false},
		{"token of-type", "/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-2", []string{"p2"}, false},
		{"token of-type wrong value", "/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-1", nil, false},
		{"reference identifier", "/Observation?subject:identifier=urn:ssn|123-45", []string{"byident"}, false},
		{"uri _source", "/Patient?_source=http://example.org/feeds/adt", []string{"p3"}, false},
		{"uri above", "/Patient?_profile:above=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient/extra", []string{"p1"}, false},
		{"missing reference", "/Observation?subject:missing=true", nil, false},
		{"string missing", "/Patient?family:missing=false", []string{"p1", "p2", "p3"}, false},
		// date
		{"date year", "/Patient?birthdate=1987", []string{"p1"}, false},
		{"date ge", "/Patient?birthdate=ge1990-01-01", []string{"p2"}, false},
		{"date lt", "/Patient?birthdate=lt1990", []string{"p1"}, false},
		{"date eq day", "/Observation?date=2024-05-01", []string{"temp1"}, false},
		{"date gt", "/Observation?date=gt2024-05-15", []string{"temp2"}, false},
		{"date eb", "/Observation?date=eb2024", []string{"hr"}, false},
		{"date zone", "/Observation?date=2024-05-01T12:30:00%2B02:00", []string{"temp1"}, false},
		{"date zone unencoded plus", "/Observation?date=2024-05-01T12:30:00+02:00", []string{"temp1"}, false},
		{"date range AND", "/Observation?date=ge2024-01-01&date=lt2024-06-01", []string{"temp1"}, false},
		{"_lastUpdated", "/Patient?_lastUpdated=gt2000-01-01", []string{"p1", "p2", "p3"}, false},
		// number, quantity, uri, composite
		{"number gt", "/RiskAssessment?probability=gt0.2", []string{"risk"}, false},
		{"number lt", "/RiskAssessment?probability=lt0.2", nil, false},
		{"quantity gt", "/Observation?value-quantity=gt37", []string{"temp1", "temp2", "hr"}, false},
		{"quantity gt with unit", "/Observation?value-quantity=gt37|http://unitsofmeasure.org|Cel", []string{"temp1", "temp2"}, false},
		{"quantity le implicit precision", "/Observation?value-quantity=le37.5", []string{"temp1"}, false},
		{"quantity with unit", "/Observation?value-quantity=37.5|http://unitsofmeasure.org|Cel", []string{"temp1"}, false},
		{"quantity eq precision", "/Observation?value-quantity=72", []string{"hr"}, false},
		{"uri", "/Patient?_profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient", []string{"p1"}, false},
		{"uri below", "/Patient?_profile:below=http://hl7.org/fhir/us/core", []string{"p1"}, false},
		{"composite", "/Observation?code-value-quantity=http://loinc.org|8310-5$ge38", []string{"temp2"}, false},
		// reference
		{"reference Type/id", "/Observation?subject=Patient/{p1}", []string{"temp1", "hr"}, false},
		{"reference bare id", "/Observation?patient={p2}", []string{"temp2"}, false},
		{"reference type modifier", "/Observation?subject:Patient={p2}", []string{"temp2"}, false},
		{"reference absolute to self", "/Observation?subject=" + "{base}/Patient/{p2}", []string{"temp2"}, false},
		// missing
		{"missing true", "/Patient?birthdate:missing=true", []string{"p3"}, false},
		{"missing false", "/Patient?birthdate:missing=false", []string{"p1", "p2"}, false},
		// chains
		{"chain typed", "/Observation?subject:Patient.name=muller", []string{"temp2"}, false},
		{"chain inferred", "/Observation?patient.family=shaw", []string{"temp1", "hr"}, false},
		{"chain two levels", "/Observation?subject:Patient.organization.name=acme", []string{"temp1", "hr"}, false},
		{"has", "/Patient?_has:Observation:patient:code=8867-4", []string{"p1"}, false},
		{"has nested", "/Organization?_has:Patient:organization:_has:Observation:patient:code=8867-4", []string{"org"}, false},
		// sort
		{"sort date", "/Patient?_sort=birthdate", []string{"p1", "p2", "p3"}, true},
		{"sort date desc", "/Patient?_sort=-birthdate", []string{"p2", "p1", "p3"}, true},
		{"sort two keys", "/Patient?_sort=gender,-birthdate", []string{"p1", "p2", "p3"}, true},
		{"sort priority", "/Communication?_sort=priority", []string{"c-stat", "c-asap", "c-urgent", "c-routine"}, true},
		{"sort priority desc", "/Communication?_sort=-priority", []string{"c-routine", "c-urgent", "c-asap", "c-stat"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := strings.ReplaceAll(d.sub(tt.path), "{base}", d.s.URL)
			b := d.parseBundle(t, d.s.do("GET", path, ""))
			got, want := b.match, tt.want
			if !tt.ordered {
				got, want = sorted(got), sorted(want)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: got %v, want %v", path, got, want)
			}
			if b.outcome {
				t.Errorf("%s: unexpected outcome entry: %s", path, b.v.Marshal())
			}
		})
	}
}

func TestSearchPostAndSystem(t *testing.T) {
	d := newSearchData(t)
	post := func(path, form string, hdr ...string) response {
		return d.s.do("POST", path, form, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)...)
	}
	b := d.parseBundle(t, post("/Patient/_search?gender=male", "family=shaw"))
	if fmt.Sprint(b.match) != "[p3]" {
		t.Errorf("POST _search: %v", b.match)
	}
	b = d.parseBundle(t, post("/_search", d.sub("_type=Patient,Observation&_id={p1},{temp1}")))
	if fmt.Sprint(sorted(b.match)) != "[p1 temp1]" {
		t.Errorf("POST system _search: %v", b.match)
	}
	b = d.parseBundle(t, d.s.do("GET", d.sub("?_id={p2},{hr}"), ""))
	if fmt.Sprint(sorted(b.match)) != "[hr p2]" {
		t.Errorf("system search: %v", b.match)
	}
	b = d.parseBundle(t, d.s.do("GET", d.sub("?_type=Observation&_id={p2},{hr}"), ""))
	if fmt.Sprint(b.match) != "[hr]" {
		t.Errorf("system search with _type: %v", b.match)
	}
	r := post("/Patient/_search", "family=shaw", "Content-Type", "application/fhir+json")
	wantOutcome(t, r, http.StatusUnsupportedMediaType, "not-supported")
}

func TestSearchIncludes(t *testing.T) {
	d := newSearchData(t)
	tests := []struct {
		name, path     string
		match, include []string
	}{
		{"include", "/Observation?code=8867-4&_include=Observation:subject", []string{"hr"}, []string{"p1"}},
		{"include target", "/Observation?code=8867-4&_include=Observation:subject:Patient", []string{"hr"}, []string{"p1"}},
		{"include deduplicated", "/Observation?code=8310-5&_include=Observation:patient", []string{"temp1", "temp2"}, []string{"p1", "p2"}},
		{"include not iterated", "/Observation?code=8867-4&_include=Observation:subject&_include=Patient:organization", []string{"hr"}, []string{"p1"}},
		{"include iterate", "/Observation?code=8867-4&_include=Observation:subject&_include:iterate=Patient:organization", []string{"hr"}, []string{"org", "p1"}},
		{"include wildcard", "/Patient?_id={p1}&_include=Patient:*", []string{"p1"}, []string{"org"}},
		{"revinclude", "/Patient?_id={p1}&_revinclude=Observation:subject", []string{"p1"}, []string{"hr", "temp1"}},
		{"revinclude iterate", "/Organization?_id={org}&_revinclude=Patient:organization&_revinclude:iterate=Observation:patient", []string{"org"}, []string{"hr", "p1", "temp1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := d.parseBundle(t, d.s.do("GET", d.sub(tt.path), ""))
			if fmt.Sprint(sorted(b.match)) != fmt.Sprint(sorted(tt.match)) || fmt.Sprint(sorted(b.include)) != fmt.Sprint(sorted(tt.include)) {
				t.Errorf("match %v include %v; want %v and %v", b.match, b.include, tt.match, tt.include)
			}
		})
	}
}

func TestSearchErrors(t *testing.T) {
	d := newSearchData(t)
	for _, tt := range []struct{ name, path, code string }{
		{"bad date", "/Patient?birthdate=notadate", "invalid"},
		{"bad prefix", "/Patient?birthdate=xx2020", "invalid"},
		{"bad number", "/RiskAssessment?probability=abc", "invalid"},
		{"unknown modifier", "/Patient?family:foo=x", "invalid"},
		{"modifier of another type", "/Patient?birthdate:exact=2020", "invalid"},
		{"bad missing", "/Patient?gender:missing=maybe", "invalid"},
		{"bad chain", "/Observation?subject:Patient.nosuchparam=x", "invalid"},
		{"chain on a token", "/Patient?gender.name=x", "invalid"},
		{"bad _has", "/Patient?_has:Observation:code:code=x", "invalid"},
		{"unknown sort", "/Patient?_sort=nosuchparam", "invalid"},
		{"bad _count", "/Patient?_count=abc", "invalid"},
		{"bad _summary", "/Patient?_summary=maybe", "invalid"},
		{"bad _total", "/Patient?_total=all", "invalid"},
		{"bad _include", "/Patient?_include=Patient:gender", "invalid"},
		{"bad _id", "/Patient?_id=a/b", "invalid"},
		{"bad _type", "?_type=Nonsense", "invalid"},
		{"terminology modifier", "/Observation?code:in=http://x/vs", "invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := d.s.do("GET", tt.path, "")
			wantOutcome(t, r, http.StatusBadRequest, tt.code)
		})
	}
}

func TestSearchUnknownParams(t *testing.T) {
	d := newSearchData(t)
	b := d.parseBundle(t, d.s.do("GET", "/Patient?gender=female&nosuch=1", ""))
	if fmt.Sprint(b.match) != "[p1]" || !b.outcome {
		t.Errorf("lenient: match %v, outcome %v", b.match, b.outcome)
	}
	if strings.Contains(b.self, "nosuch") || !strings.Contains(b.self, "gender=female") {
		t.Errorf("self link %q", b.self)
	}
	r := d.s.do("GET", "/Patient?gender=female&nosuch=1", "", "Prefer", "handling=strict")
	wantOutcome(t, r, http.StatusBadRequest, "not-supported")
	b = d.parseBundle(t, d.s.do("GET", "/Patient?gender=female&nosuch=1", "", "Prefer", "handling=lenient"))
	if !b.outcome {
		t.Error("handling=lenient: no outcome entry")
	}
}

func TestSearchResultParams(t *testing.T) {
	d := newSearchData(t)
	t.Run("summary count", func(t *testing.T) {
		for _, p := range []string{"_summary=count", "_count=0"} {
			b := d.parseBundle(t, d.s.do("GET", "/Patient?gender=male&"+p, ""))
			if b.total != "2" || len(b.match) != 0 {
				t.Errorf("%s: total %q, %d entries", p, b.total, len(b.match))
			}
		}
	})
	t.Run("total", func(t *testing.T) {
		b := d.parseBundle(t, d.s.do("GET", "/Patient?_total=accurate&_count=1", ""))
		if b.total != "3" || len(b.match) != 1 || b.next == "" {
			t.Errorf("total %q, %d entries, next %q", b.total, len(b.match), b.next)
		}
		b = d.parseBundle(t, d.s.do("GET", "/Patient?_count=1", ""))
		if b.total != "" {
			t.Errorf("total %q without _total", b.total)
		}
	})
	subsetted := func(res *fhir.Value) bool {
		for _, tag := range res.Get("meta").Get("tag").Arr {
			if tag.Get("code").Text == "SUBSETTED" {
				return true
			}
		}
		return false
	}
	t.Run("summary true", func(t *testing.T) {
		b := d.parseBundle(t, d.s.do("GET", d.sub("/Observation?_id={temp1}&_summary=true"), ""))
		res := b.v.Get("entry").Arr[0].Get("resource")
		if res.Get("note") != nil || res.Get("code") == nil || res.Get("status") == nil || !subsetted(res) {
			t.Errorf("_summary=true: %s", res.Marshal())
		}
	})
	t.Run("summary text and data", func(t *testing.T) {
		b := d.parseBundle(t, d.s.do("GET", d.sub("/Patient?_id={p1}&_summary=text"), ""))
		res := b.v.Get("entry").Arr[0].Get("resource")
		if res.Get("text") == nil || res.Get("name") != nil || res.Get("id") == nil {
			t.Errorf("_summary=text: %s", res.Marshal())
		}
		b = d.parseBundle(t, d.s.do("GET", d.sub("/Patient?_id={p1}&_summary=data"), ""))
		res = b.v.Get("entry").Arr[0].Get("resource")
		if res.Get("text") != nil || res.Get("name") == nil {
			t.Errorf("_summary=data: %s", res.Marshal())
		}
	})
	t.Run("elements", func(t *testing.T) {
		b := d.parseBundle(t, d.s.do("GET", d.sub("/Observation?_id={temp1}&_elements=value,subject"), ""))
		res := b.v.Get("entry").Arr[0].Get("resource")
		if res.Get("valueQuantity") == nil || res.Get("subject") == nil || res.Get("note") != nil || res.Get("effectiveDateTime") != nil ||
			res.Get("status") == nil || res.Get("code") == nil || !subsetted(res) {
			t.Errorf("_elements: %s", res.Marshal())
		}
	})
	t.Run("stored bytes spliced", func(t *testing.T) {
		b := d.parseBundle(t, d.s.do("GET", d.sub("/Patient?_id={p2}"), ""))
		read := d.s.do("GET", d.sub("/Patient/{p2}"), "")
		if got := b.v.Get("entry").Arr[0].Get("resource").Marshal(); string(got) != string(read.Body) {
			t.Errorf("entry %s\nread  %s", got, read.Body)
		}
	})
	t.Run("pretty", func(t *testing.T) {
		r := d.s.do("GET", "/Patient?_pretty=true", "")
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(string(r.Body), "\n  ") {
			t.Errorf("not indented: %.80s", r.Body)
		}
	})
}

func TestSearchPaging(t *testing.T) {
	s := newServer(t)
	want := map[string]bool{}
	for i := range 250 {
		id := s.create(fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":"urn:paging","value":"%d"}],"name":[{"family":"Page%03d"}]}`, i, i))
		want[id] = true
	}
	for _, sort := range []string{"", "&_sort=-family"} {
		seen := map[string]bool{}
		var families []string
		next := s.URL + "/Patient?identifier=urn:paging|&_count=100" + sort
		pages := 0
		for next != "" {
			pages++
			u, err := url.Parse(next)
			if err != nil {
				t.Fatal(err)
			}
			r := s.do("GET", strings.TrimPrefix(u.String(), s.URL), "")
			wantStatus(t, r, http.StatusOK)
			v := parse(t, r.Body)
			next = ""
			for _, l := range v.Get("link").Arr {
				if l.Get("relation").Text == "next" {
					next = l.Get("url").Text
				}
			}
			for _, e := range v.Get("entry").Arr {
				id := e.Get("resource").Get("id").Text
				if seen[id] {
					t.Fatalf("%s listed twice", id)
				}
				seen[id] = true
				families = append(families, e.Get("resource").Get("name").Arr[0].Get("family").Text)
			}
		}
		if len(seen) != 250 || pages != 3 {
			t.Errorf("sort %q: %d resources in %d pages, want 250 in 3", sort, len(seen), pages)
		}
		if sort != "" && !slices.IsSortedFunc(families, func(a, b string) int { return strings.Compare(b, a) }) {
			t.Errorf("not sorted by -family across pages")
		}
	}
	// _count above MaxCount is capped.
	r := s.do("GET", "/Patient?_count=100000", "")
	b := parse(t, r.Body)
	if n := len(b.Get("entry").Arr); n != 250 {
		t.Errorf("_count=100000: %d entries", n)
	}
}

func TestConditionalAnySearch(t *testing.T) {
	d := newSearchData(t)
	// Conditional update selected by family and birthdate: one match, updated.
	r := d.s.do("PUT", "/Patient?family=muller&birthdate=1990-06-15", `{"resourceType":"Patient","name":[{"family":"Müller"}],"gender":"male","birthDate":"1990-06-15"}`)
	wantStatus(t, r, http.StatusOK)
	if id := jsonString(t, r.Body, "id"); id != d.ids["p2"] {
		t.Errorf("updated %s, want %s", id, d.ids["p2"])
	}
	// More than one match: 412.
	r = d.s.do("PUT", "/Patient?gender=male", `{"resourceType":"Patient","gender":"male"}`)
	wantOutcome(t, r, http.StatusPreconditionFailed, "")
	// Conditional create by a chain: one match, nothing created.
	r = d.s.do("POST", "/Observation", d.sub(`{"resourceType":"Observation","status":"final","code":{"text":"x"}}`),
		"If-None-Exist", "code=8867-4&subject:Patient.family=shaw")
	wantStatus(t, r, http.StatusOK)
	// Unknown parameters are never ignored in conditional interactions.
	r = d.s.do("DELETE", "/Patient?nosuch=1", "")
	wantOutcome(t, r, http.StatusBadRequest, "not-supported")
}

// TestSearchLinksReadable: the self and next links keep the commas of _type and of OR'ed
// values (and the colons and slashes of values) as they are, not %2C: the official validator
// reads _type from the self link to check the entries' search mode. A client following a link
// gets the same search: an escaped comma (\,) stays one value, a bare comma still ORs.
func TestSearchLinksReadable(t *testing.T) {
	d := newSearchData(t)
	follow := func(link string) bundle {
		t.Helper()
		if !strings.HasPrefix(link, d.s.URL) {
			t.Fatalf("link %q is not under the base %s", link, d.s.URL)
		}
		return d.parseBundle(t, d.s.do("GET", strings.TrimPrefix(link, d.s.URL), ""))
	}

	b := d.parseBundle(t, d.s.do("GET", "?_type=Patient,Practitioner&gender=male", ""))
	if want := d.s.URL + "?_count=50&_type=Patient,Practitioner&gender=male"; b.self != want {
		t.Errorf("self %q, want %q", b.self, want)
	}
	if again := follow(b.self); fmt.Sprint(sorted(again.match)) != fmt.Sprint(sorted(b.match)) || again.self != b.self {
		t.Errorf("following self: %v %q, want %v %q", again.match, again.self, b.match, b.self)
	}
	if fmt.Sprint(sorted(b.match)) != "[p2 p3]" {
		t.Errorf("matches %v", b.match)
	}

	// One value holds an escaped comma (p3's identifier is urn:x|A,B); the bare comma ORs.
	b = d.parseBundle(t, d.s.do("GET", `/Patient?identifier=urn:x|A\,B,http://hospital.example.org/mrn|MRN-2&_count=1&_sort=family`, ""))
	for _, link := range []string{b.self, b.next} {
		if strings.Contains(link, "%2C") || strings.Contains(link, "%3A") || strings.Contains(link, "%2F") {
			t.Errorf("link escapes a comma, colon or slash: %q", link)
		}
	}
	if !strings.Contains(b.self, `identifier=urn:x%7CA%5C,B,http://hospital.example.org/mrn%7CMRN-2`) {
		t.Errorf("self %q", b.self)
	}
	got := b.match
	for next := b.next; next != ""; {
		page := follow(next)
		if !strings.Contains(page.self, "_cursor=") || strings.Contains(page.self, "%2C") {
			t.Errorf("self of a later page %q", page.self)
		}
		got, next = append(got, page.match...), page.next
	}
	if fmt.Sprint(got) != "[p2 p3]" {
		t.Errorf("paged through %v, want [p2 p3]", got)
	}
	if again := follow(b.self); fmt.Sprint(again.match) != "[p2]" || again.self != b.self {
		t.Errorf("following self: %v %q", again.match, again.self)
	}
}

// TestCursorsSealed: a next link's cursor says nothing of the store (its row counter would
// tell how much others write), cannot be altered, and pages only the search or history it
// came from, whatever page size a client then asks.
func TestCursorsSealed(t *testing.T) {
	s := newServer(t)
	for i := range 5 {
		s.create(fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Seal%d"}]}`, i))
	}
	s.create(`{"resourceType":"Practitioner","name":[{"family":"Other"}]}`)
	next := func(path string) string {
		t.Helper()
		r := s.do("GET", path, "")
		wantStatus(t, r, http.StatusOK)
		v := parse(t, r.Body)
		for _, l := range v.Get("link").Arr {
			if l.Get("relation").Text == "next" {
				u, err := url.Parse(l.Get("url").Text)
				if err != nil {
					t.Fatal(err)
				}
				return u.Query().Get("_cursor")
			}
		}
		t.Fatalf("%s: no next link", path)
		return ""
	}
	cur := next("/Patient?_count=2&_sort=family")
	raw, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		t.Fatalf("cursor %q is not base64url: %v", cur, err)
	}
	if bytes.Contains(raw, []byte("Seal")) || len(raw) < 28 {
		t.Errorf("cursor %q carries the store's keys in clear", raw)
	}
	if again := next("/Patient?_count=2&_sort=family"); again == cur {
		t.Error("two cursors of the same position are identical: not sealed with a fresh nonce")
	}
	wantStatus(t, s.do("GET", "/Patient?_sort=family&_count=3&_cursor="+cur, ""), http.StatusOK)
	tampered := []byte(cur)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == '-' || tampered[len(tampered)/2] == '_' {
		tampered[len(tampered)/2] = 'A'
	}
	for name, path := range map[string]string{
		"altered":           "/Patient?_count=2&_sort=family&_cursor=" + string(tampered),
		"another criterion": "/Patient?_count=2&_sort=-family&_cursor=" + cur,
		"another type":      "/Practitioner?_count=2&_sort=family&_cursor=" + cur,
		"a history":         "/Patient/_history?_count=2&_cursor=" + cur,
		"not a cursor":      "/Patient?_count=2&_cursor=abc",
	} {
		if r := s.do("GET", path, ""); r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, r.StatusCode)
		}
	}
	hist := next("/Patient/_history?_count=2")
	wantStatus(t, s.do("GET", "/Patient/_history?_count=2&_cursor="+hist, ""), http.StatusOK)
	if r := s.do("GET", "/Practitioner/_history?_count=2&_cursor="+hist, ""); r.StatusCode != http.StatusBadRequest {
		t.Errorf("a Patient history cursor on Practitioner history: %d, want 400", r.StatusCode)
	}
}
