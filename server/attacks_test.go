package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReviewAttacks replays, over HTTP with real tokens, each attack an independent review
// found against the authorization of an earlier version (issue "One authorization boundary").
// A patient/*.rs (or .cruds) token for patient A, against a store that holds patient B.
func TestReviewAttacks(t *testing.T) {
	en := newAuthEnv(t)
	sys := en.systemToken("system/*.cruds")
	put := func(path, body string) {
		t.Helper()
		if status, _, b := en.do(sys, http.MethodPut, path, body); status != http.StatusOK && status != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", path, status, b)
		}
	}
	ref := func(r string) string { return `{"reference":"` + r + `"}` }
	put("/Organization/org1", `{"resourceType":"Organization","id":"org1","name":"North"}`)
	put("/Organization/org2", `{"resourceType":"Organization","id":"org2","name":"South"}`)
	put("/Patient/A", `{"resourceType":"Patient","id":"A","name":[{"family":"Adams"}],"managingOrganization":`+ref("Organization/org1")+`}`)
	put("/Patient/B", `{"resourceType":"Patient","id":"B","name":[{"family":"Brownlow"}],"birthDate":"1961-07-04",`+
		`"identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"078-05-1120"}],"managingOrganization":`+ref("Organization/org2")+`}`)
	put("/Practitioner/X", `{"resourceType":"Practitioner","id":"X","name":[{"family":"Xavier"}]}`)
	put("/Practitioner/Y", `{"resourceType":"Practitioner","id":"Y","name":[{"family":"Young"}]}`)
	put("/PractitionerRole/Y-org1", `{"resourceType":"PractitionerRole","id":"Y-org1","practitioner":`+ref("Practitioner/Y")+`,"organization":`+ref("Organization/org1")+`}`)
	put("/Observation/obsB", `{"resourceType":"Observation","id":"obsB","status":"final","code":{"text":"A1c"},"subject":`+ref("Patient/B")+
		`,"performer":[`+ref("Practitioner/X")+`],"valueString":"hba1c 11.2"}`)
	put("/Condition/condB", `{"resourceType":"Condition","id":"condB","subject":`+ref("Patient/B")+`,"code":{"text":"hiv infection"}}`)
	put("/Observation/obsA", `{"resourceType":"Observation","id":"obsA","status":"final","code":{"text":"weight"},"subject":`+ref("Patient/A")+`}`)
	put("/Device/devB", `{"resourceType":"Device","id":"devB","patient":`+ref("Patient/B")+`,"distinctIdentifier":"pump"}`)
	put("/Binary/binB", `{"resourceType":"Binary","id":"binB","contentType":"text/plain","securityContext":`+ref("Patient/B")+`,"data":"c2VjcmV0"}`)
	put("/Bundle/bun1", `{"resourceType":"Bundle","id":"bun1","type":"collection"}`)
	put("/Contract/conB", `{"resourceType":"Contract","id":"conB","subject":[`+ref("Patient/B")+`]}`)
	put("/GuidanceResponse/grB", `{"resourceType":"GuidanceResponse","id":"grB","status":"success","moduleUri":"http://x.org/m","subject":`+ref("Patient/B")+`}`)
	put("/Linkage/lnk1", `{"resourceType":"Linkage","id":"lnk1","item":[{"type":"source","resource":`+ref("Patient/B")+`}]}`)
	put("/Observation/gone", `{"resourceType":"Observation","id":"gone","status":"final","code":{"text":"x"},"subject":`+ref("Patient/B")+`}`)
	en.must(sys, http.MethodDelete, "/Observation/gone", "", http.StatusNoContent)
	// B's pending patient message, triaged.
	status, _, b := en.do(sys, http.MethodPost, "/Communication", `{"resourceType":"Communication","status":"in-progress","sender":`+ref("Patient/B")+
		`,"recipient":[`+ref("Practitioner/X")+`],"payload":[{"contentString":"question about my results"}]}`)
	if status != http.StatusCreated {
		t.Fatalf("B's message: %d %s", status, b)
	}
	var msgB struct{ ID string }
	_ = json.Unmarshal(b, &msgB)

	a := en.patientToken("A", "launch/patient patient/*.rs")
	aw := en.patientToken("A", "launch/patient patient/*.cruds")
	count := func(tok, path string) int {
		t.Helper()
		status, _, b := en.do(tok, http.MethodGet, path, "")
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, status, b)
		}
		var bundle struct {
			Total *int
			Entry []json.RawMessage
		}
		_ = json.Unmarshal(b, &bundle)
		if bundle.Total != nil {
			return *bundle.Total
		}
		return len(bundle.Entry)
	}

	t.Run("1 chained and _has criteria are confined", func(t *testing.T) {
		// Each probe names a fact of B's only; a confined search must find nothing, exactly as
		// for a wrong guess.
		for _, probe := range []string{
			"/Practitioner?_id=X&_has:Observation:performer:value-string=hba1c",
			"/Practitioner?_has:Observation:performer:subject=Patient/B",
			"/Observation?patient.identifier=078-05-1120",
			"/Observation?subject:Patient.identifier=http://hl7.org/fhir/sid/us-ssn|078-05-1120",
			"/Device?_id=devB&patient.birthdate=1961",
			"/Patient?_has:Condition:subject:code:text=hiv",
			"/Patient?family=Brown", "/Patient?name=B",
			"/Observation?subject:Patient.birthdate=1961&_summary=count",
			"/Practitioner?_has:Observation:performer:subject:Patient.family=Brown&_summary=count",
		} {
			if n := count(a, probe); n != 0 {
				t.Errorf("%s: %d found", probe, n)
			}
		}
		// Planting a focus reference to B's Condition on A's own Observation tells nothing.
		en.must(aw, http.MethodPut, "/Observation/obsA", `{"resourceType":"Observation","id":"obsA","status":"final","code":{"text":"weight"},"subject":`+ref("Patient/A")+`,"focus":[`+ref("Condition/condB")+`]}`, http.StatusOK)
		for _, probe := range []string{"/Observation?_id=obsA&focus:Condition.code:text=hiv", "/Observation?_id=obsA&focus:Condition.code:text=zzz"} {
			if n := count(a, probe); n != 0 {
				t.Errorf("%s: %d found", probe, n)
			}
		}
		if n := count(a, "/Observation?_id=obsA"); n != 1 {
			t.Errorf("A's own Observation: %d", n)
		}
		// The same through If-None-Exist: a match on B's data must look like no match.
		for _, crit := range []string{"patient.identifier=078-05-1120", "_id=obsB", "subject:Patient.family=Brownlow"} {
			status, _, b := en.do(aw, http.MethodPost, "/Observation",
				`{"resourceType":"Observation","status":"final","code":{"text":"probe"},"subject":`+ref("Patient/A")+`}`, "If-None-Exist", crit)
			if status != http.StatusCreated {
				t.Errorf("If-None-Exist %s: %d %s", crit, status, b)
			}
		}
	})

	t.Run("1 side channels: deleted, history, several types", func(t *testing.T) {
		gone, _, _ := en.do(a, http.MethodGet, "/Observation/gone", "")
		missing, _, _ := en.do(a, http.MethodGet, "/Observation/never-existed", "")
		if gone != http.StatusNotFound || missing != http.StatusNotFound {
			t.Errorf("B's deleted resource %d, a missing one %d: want both 404", gone, missing)
		}
		// Type history cannot be confined without reading past hidden versions: refused
		// whatever the data, rather than paged around them.
		if status, _, _ := en.do(a, http.MethodGet, "/Observation/_history?_count=1", ""); status != http.StatusForbidden {
			t.Errorf("type history: %d, want 403", status)
		}
		// A search of several types pages over A's resources only: full pages, one of them.
		status, _, b := en.do(a, http.MethodGet, "?_type=Observation,Condition,Device&_count=1", "")
		var bundle struct {
			Link  []struct{ Relation string }
			Entry []json.RawMessage
		}
		_ = json.Unmarshal(b, &bundle)
		if status != http.StatusOK || len(bundle.Entry) != 1 {
			t.Fatalf("several types: %d %s", status, b)
		}
	})

	t.Run("2 types outside the compartment", func(t *testing.T) {
		// Patient data that a parameter ties to one patient is confined; the rest is out of
		// reach of a patient's token; directory types are readable, not writable.
		for path, want := range map[string]int{
			"/Device/devB": http.StatusNotFound, "/Contract/conB": http.StatusNotFound, "/GuidanceResponse/grB": http.StatusNotFound,
			"/Binary/binB": http.StatusForbidden, "/Bundle/bun1": http.StatusForbidden, "/Linkage/lnk1": http.StatusForbidden,
			"/Practitioner/X": http.StatusOK, "/Organization/org2": http.StatusOK,
		} {
			if status, _, b := en.do(aw, http.MethodGet, path, ""); status != want {
				t.Errorf("GET %s: %d, want %d: %s", path, status, want, b)
			}
		}
		for _, w := range []struct{ method, path, body string }{
			{http.MethodPut, "/Practitioner/X", `{"resourceType":"Practitioner","id":"X","name":[{"family":"Renamed"}]}`},
			{http.MethodPut, "/Organization/org2", `{"resourceType":"Organization","id":"org2","name":"Mine now"}`},
			{http.MethodPut, "/Device/devB", `{"resourceType":"Device","id":"devB","patient":` + ref("Patient/A") + `}`},
			{http.MethodPut, "/Binary/binB", `{"resourceType":"Binary","id":"binB","contentType":"text/plain"}`},
			{http.MethodDelete, "/Bundle/bun1", ""},
			{http.MethodPost, "/Practitioner", `{"resourceType":"Practitioner","name":[{"family":"Fake"}]}`},
		} {
			status, _, b := en.do(aw, w.method, w.path, w.body)
			if status != http.StatusForbidden && status != http.StatusNotFound {
				t.Errorf("%s %s: %d %s", w.method, w.path, status, b)
			}
		}
		if b := en.must(sys, http.MethodGet, "/Practitioner/X", "", http.StatusOK); !strings.Contains(string(b), "Xavier") {
			t.Errorf("the Practitioner changed: %s", b)
		}
		en.must(sys, http.MethodGet, "/Bundle/bun1", "", http.StatusOK)
	})

	t.Run("3 no write reaches another patient's chart", func(t *testing.T) {
		for _, body := range []string{
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":` + ref("Patient/B") + `,"performer":[` + ref("Patient/A") + `]}`,
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":` + ref("Patient/A") + `,"performer":[` + ref("Patient/B") + `]}`,
			`{"resourceType":"Condition","subject":` + ref("Patient/B") + `,"asserter":` + ref("Patient/A") + `,"code":{"text":"x"}}`,
			`{"resourceType":"AllergyIntolerance","patient":` + ref("Patient/B") + `,"recorder":` + ref("Patient/A") + `}`,
			`{"resourceType":"Communication","status":"completed","sender":` + ref("Patient/A") + `,"recipient":[` + ref("Patient/B") + `]}`,
			`{"resourceType":"Communication","status":"completed","sender":` + ref("Practitioner/X") + `,"subject":` + ref("Patient/A") + `}`,
		} {
			typ := strings.Split(strings.Split(body, `"resourceType":"`)[1], `"`)[0]
			if status, _, b := en.do(aw, http.MethodPost, "/"+typ, body); status != http.StatusForbidden {
				t.Errorf("POST %s: %d %s", body, status, b)
			}
		}
		// A crafted sender, read as Patient A by one part of the server and as a Practitioner
		// by another, once completed B's message. Now every part reads it one way, and the
		// triage service changes only what the caller may read.
		base := en.base
		for _, sender := range []string{base + "/Patient/A|/Practitioner/X", "Patient/A|/Practitioner/X", "Practitioner/X|/Patient/A"} {
			status, _, b := en.do(aw, http.MethodPost, "/Communication", `{"resourceType":"Communication","status":"completed","sender":`+
				ref(sender)+`,"inResponseTo":[`+ref("Communication/"+msgB.ID)+`],"payload":[{"contentString":"done"}]}`)
			if status != http.StatusForbidden && status != http.StatusUnprocessableEntity {
				t.Errorf("crafted sender %s: %d %s", sender, status, b)
			}
		}
		if b := en.must(sys, http.MethodGet, "/Communication/"+msgB.ID, "", http.StatusOK); !strings.Contains(string(b), `"status":"in-progress"`) {
			t.Errorf("B's message was changed: %s", b)
		}
	})

	t.Run("4 user kinds", func(t *testing.T) {
		put("/Person/per1", `{"resourceType":"Person","id":"per1","link":[{"target":`+ref("Patient/A")+`}]}`)
		person := en.userToken("Person/per1", "openid fhirUser user/*.rs")
		if got := ids(t, en.must(person, http.MethodGet, "/Patient", "", http.StatusOK)); !slices.Equal(got, []string{"Patient/A"}) {
			t.Errorf("a Person's patients: %v", got)
		}
		unlinked := en.userToken("Person/nobody", "openid fhirUser user/*.rs")
		if got := ids(t, en.must(unlinked, http.MethodGet, "/Patient", "", http.StatusOK)); len(got) != 0 {
			t.Errorf("an unknown Person reaches %v", got)
		}
		// A practitioner sees the patients of their organization only (org1: A, not B).
		doc := en.userToken("Practitioner/Y", "openid fhirUser user/*.rs")
		if got := ids(t, en.must(doc, http.MethodGet, "/Patient", "", http.StatusOK)); !slices.Equal(got, []string{"Patient/A"}) {
			t.Errorf("practitioner of org1 sees %v", got)
		}
		en.must(doc, http.MethodGet, "/Observation/obsB", "", http.StatusNotFound)
		// A confined practitioner cannot change what staff reach (the blind review of
		// 2026-12-07): no role for themselves at another organization, no deleting another
		// clinic's Organization, no renaming another clinic's Practitioner or adding Locations
		// (the blind review's second round): confined staff write no directory data.
		docw := en.userToken("Practitioner/Y", "openid fhirUser user/*.cruds")
		en.must(docw, http.MethodPost, "/PractitionerRole", `{"resourceType":"PractitionerRole","practitioner":`+ref("Practitioner/Y")+
			`,"organization":`+ref("Organization/org2")+`}`, http.StatusForbidden)
		en.must(docw, http.MethodDelete, "/Organization/org2", "", http.StatusForbidden)
		en.must(docw, http.MethodPut, "/Organization/org2", `{"resourceType":"Organization","id":"org2","name":"Taken"}`, http.StatusForbidden)
		en.must(docw, http.MethodPost, "/Location", `{"resourceType":"Location","name":"Room 4"}`, http.StatusForbidden)
		en.must(docw, http.MethodPut, "/Practitioner/Z", `{"resourceType":"Practitioner","id":"Z","name":[{"family":"Renamed"}]}`, http.StatusForbidden)
		if got := ids(t, en.must(doc, http.MethodGet, "/Patient", "", http.StatusOK)); !slices.Equal(got, []string{"Patient/A"}) {
			t.Errorf("after the refused writes the practitioner sees %v", got)
		}
		// A carer's token stops when the relationship ends (the RelatedPerson is deleted),
		// within the recheck interval of tokens, as for a disabled user.
		put("/RelatedPerson/rp1", `{"resourceType":"RelatedPerson","id":"rp1","patient":`+ref("Patient/A")+`}`)
		carer := en.userToken("RelatedPerson/rp1", "launch/patient patient/*.rs")
		en.must(carer, http.MethodGet, "/Patient/A", "", http.StatusOK)
		en.must(sys, http.MethodDelete, "/RelatedPerson/rp1", "", http.StatusNoContent)
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, _, _ := en.do(carer, http.MethodGet, "/Patient/A", "")
			if status == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a carer's token still reads the patient 10 s after the relationship ended: %d", status)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// X holds no role anywhere: X sees no patient, even the one X performed for.
		x := en.userToken("Practitioner/X", "openid fhirUser user/*.rs")
		if got := ids(t, en.must(x, http.MethodGet, "/Patient", "", http.StatusOK)); len(got) != 0 {
			t.Errorf("practitioner without a role sees %v", got)
		}
	})
}

// ids lists the Type/id of a searchset's match entries.
func ids(t *testing.T, body []byte) []string {
	t.Helper()
	var b struct {
		Entry []struct {
			Resource struct{ ResourceType, ID string }
			Search   struct{ Mode string }
		}
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	var out []string
	for _, e := range b.Entry {
		if e.Search.Mode == "match" {
			out = append(out, e.Resource.ResourceType+"/"+e.Resource.ID)
		}
	}
	slices.Sort(out)
	return out
}
