package smart

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// TestFilterOnRealIndex checks the policy's filters against index entries the fhir package
// really extracts, and Filter.Clauses against the SQLite store's search.
func TestFilterOnRealIndex(t *testing.T) {
	en := newEnv(t)
	resources := map[string]string{
		"Observation/o1": `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"},
			"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}]}`,
		"Observation/o2": `{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"},
			"performer":[{"reference":"Patient/p1"}]}`,
		"Observation/o3": `{"resourceType":"Observation","id":"o3","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}}`,
		"Account/a1":     `{"resourceType":"Account","id":"a1","status":"active","subject":[{"reference":"Patient/p1"}]}`,
		"Account/a2":     `{"resourceType":"Account","id":"a2","status":"active","subject":[{"reference":"Patient/p2"}]}`,
		"Patient/p1":     `{"resourceType":"Patient","id":"p1"}`,
		"Patient/p2":     `{"resourceType":"Patient","id":"p2","link":[{"other":{"reference":"Patient/p1"},"type":"seealso"}]}`,
		"Communication/c1": `{"resourceType":"Communication","id":"c1","status":"completed","sender":{"reference":"Patient/p1"},
			"recipient":[{"reference":"Practitioner/d1"}]}`,
	}
	index := map[string][]store.IndexEntry{}
	for key, body := range resources {
		r, err := fhir.ParseResource([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		idx, err := fhir.ExtractIndex(r)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		index[key] = idx
		typ, id := r.Type(), r.ID()
		if err := en.st.Write(t.Context(), store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1,
			LastUpdated: time.Now().UTC(), Body: []byte(body), Index: idx}); err != nil {
			t.Fatal(err)
		}
	}
	p := Principal{Scopes: mustScopes(t, "patient/*.rs patient/Communication.c"), Patient: "p1"}
	read := func(typ, id string) bool {
		return Authorize(p, Request{Interaction: InteractionRead, Type: typ, ID: id,
			Resource: &Resource{ID: id, Index: index[typ+"/"+id]}}).Allow
	}
	for key, want := range map[string]bool{
		"Observation/o1": true, "Observation/o2": true, "Observation/o3": false,
		"Account/a1": true, "Account/a2": false, "Patient/p1": true, "Patient/p2": false, "Communication/c1": true,
	} {
		typ, id, _ := strings.Cut(key, "/")
		if got := read(typ, id); got != want {
			t.Errorf("read %s: %v, want %v", key, got, want)
		}
	}
	if d := Authorize(p, Request{Interaction: InteractionCreate, Type: "Communication",
		Resource: &Resource{ID: "c1", Index: index["Communication/c1"]}}); !d.Allow {
		t.Errorf("patient sends as itself: %s", d.Reason)
	}

	lab := Principal{Scopes: mustScopes(t, "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"), Patient: "p1"}
	if d := Authorize(lab, Request{Interaction: InteractionRead, Type: "Observation", Resource: &Resource{ID: "o2", Index: index["Observation/o2"]}}); d.Allow {
		t.Error("granular scope let a non-laboratory Observation through")
	}

	// Filter.Clauses in a store search returns exactly what Filter.Matches lets through, for
	// one alternative or several, compartments with one way in or several, and granular
	// parameters; with the results the policy's own table says.
	cat := "http://terminology.hl7.org/CodeSystem/observation-category"
	principals := map[string]Principal{
		"patient p1":          p,
		"patient p2":          {Scopes: mustScopes(t, "patient/*.rs"), Patient: "p2"},
		"granular lab":        lab,
		"lab or by code":      {Scopes: mustScopes(t, "patient/Observation.rs?category="+cat+"|laboratory patient/Observation.rs?code=nope"), Patient: "p1"},
		"patient and related": {Scopes: mustScopes(t, "patient/*.rs user/*.rs"), Patient: "p2", FHIRUser: "Patient/p1"},
		"any category code":   {Scopes: mustScopes(t, "patient/Observation.rs?category=laboratory"), Patient: "p1"},
	}
	want := map[string][]string{
		"patient p1/Observation":          {"o1", "o2"},
		"patient p1/Account":              {"a1"},
		"patient p1/Patient":              {"p1"},
		"patient p1/Communication":        {"c1"},
		"patient p2/Observation":          {"o2", "o3"},
		"patient p2/Patient":              {"p2"},
		"granular lab/Observation":        {"o1"},
		"lab or by code/Observation":      {"o1"},
		"patient and related/Observation": {"o1", "o2", "o3"},
		"patient and related/Patient":     {"p1", "p2"},
		"any category code/Observation":   {"o1"},
	}
	for name, pr := range principals {
		for _, typ := range []string{"Observation", "Account", "Patient", "Communication"} {
			d := Authorize(pr, Request{Interaction: InteractionSearch, Type: typ})
			if !d.Allow {
				continue
			}
			clauses, ok := d.Filter.Clauses(typ)
			if !ok {
				t.Fatalf("%s/%s: no clauses", name, typ)
			}
			page, err := en.st.Search(t.Context(), store.Query{Types: []string{typ}, Where: clauses, Count: 100})
			if err != nil {
				t.Fatalf("%s/%s: %v", name, typ, err)
			}
			var got, matching []string
			for _, r := range page.Records {
				got = append(got, r.ID)
			}
			for key, idx := range index {
				ktyp, id, _ := strings.Cut(key, "/")
				if ktyp == typ && d.Filter.Matches(typ, id, idx) {
					matching = append(matching, id)
				}
			}
			slices.Sort(matching)
			if !slices.Equal(got, matching) {
				t.Errorf("%s/%s: the clauses find %v, Matches lets %v through", name, typ, got, matching)
			}
			if w, ok := want[name+"/"+typ]; ok && !slices.Equal(got, w) {
				t.Errorf("%s/%s: found %v, want %v", name, typ, got, w)
			}
		}
	}
	if _, ok := (&Filter{Alternatives: []Alternative{{Patient: "p1"}}}).Clauses(""); ok {
		t.Error("a system-level search got clauses")
	}
}
