package guard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/internal/mongojava"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/derived"
	"github.com/portico-health/portico/store/mongo"
	"github.com/portico-health/portico/store/sqlite"
)

// The differential confinement test (docs/smart.md, "How confinement is tested").
//
// For each restricted principal, a copy of the store is made that holds only what the
// principal may read (each resource read one by one, the simplest path). Then many searches
// (every parameter the data has, with values taken from resources the principal may NOT see,
// chains and _has at two levels, _include, _revinclude and :iterate, _summary=count, _total,
// paging, several types at once) and Bundles of them are asked of both:
//
//   - the principal on the real store and the principal on the copy must get the same answers:
//     what the principal may not see cannot change what it is told (non-interference);
//   - a system token on the copy must get the same answers too, wherever the principal's
//     answer is not a refusal of the whole type.
//
// Any difference is a leak or a wrong answer. TestConfinementCatchesUnfilteredSubquery turns
// the filter inside chains and _has off and checks that the test then fails.

const confBase = "http://portico.test/fhir"

// fhirServer is an API over its own SQLite store, called in process; the caller of each
// request is the principal named by the X-Test-Principal header.
type fhirServer struct {
	h  http.Handler
	st store.Store
}

func newFHIRServer(t *testing.T, principals map[string]policy.Principal) *fhirServer {
	t.Helper()
	return newFHIRServerOver(t, principals, openConfStore(t))
}

// newFHIRServerOver is newFHIRServer over store st.
func newFHIRServerOver(t *testing.T, principals map[string]policy.Principal, st store.Store) *fhirServer {
	t.Helper()
	a, err := api.New(api.Config{Store: derived.Wrap(st), BaseURL: confBase, Policy: policy.New(policy.Options{}),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = a.HTTPErrorHandler
	g := e.Group("/fhir", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := principals[c.Request().Header.Get("X-Test-Principal")]
			if !ok {
				return fmt.Errorf("no principal %q", c.Request().Header.Get("X-Test-Principal"))
			}
			r := c.Request()
			c.SetRequest(r.WithContext(policy.WithPrincipal(r.Context(), p)))
			return next(c)
		}
	})
	a.Register(g)
	return &fhirServer{h: e, st: st}
}

func (s *fhirServer) do(who, method, path, body string, hdr ...string) (int, []byte) {
	path = strings.TrimPrefix(path, confBase)
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "/fhir"+path, rd)
	req.Header.Set("X-Test-Principal", who)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func scopes(s string) policy.Scopes {
	sc, _, err := policy.ParseScopes(s)
	if err != nil {
		panic(err)
	}
	return sc
}

// confPrincipals are the callers the test confines, and "system", which sees everything.
var confPrincipals = map[string]policy.Principal{
	"system":          {Scopes: scopes("system/*.cruds")},
	"patient-A":       {Scopes: scopes("patient/*.rs"), Patient: "pA"},
	"patient-B-write": {Scopes: scopes("patient/*.cruds"), Patient: "pB"},
	"patient-A-lab":   {Scopes: scopes("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory patient/Patient.rs"), Patient: "pA"},
	"user-patient-C":  {Scopes: scopes("user/*.rs"), FHIRUser: "Patient/pC"},
	"carer-of-A":      {Scopes: scopes("user/*.rs"), FHIRUser: "RelatedPerson/rpA", Patient: "pA"},
	"person-AC":       {Scopes: scopes("user/*.rs"), FHIRUser: "Person/perAC"},
	"dr1-org1":        {Scopes: scopes("user/*.rs"), FHIRUser: "Practitioner/dr1"},
	"dr3-careteam":    {Scopes: scopes("user/*.rs"), FHIRUser: "Practitioner/dr3"},
	"role2-org2":      {Scopes: scopes("user/*.rs"), FHIRUser: "PractitionerRole/pr2"},
	"dr4-gp":          {Scopes: scopes("user/*.rs"), FHIRUser: "Practitioner/dr4"},
	"obs-only":        {Scopes: scopes("system/Observation.rs")},
}

// seed writes the dataset: two clinics, five patients, their carers and practitioners, and
// resources of many kinds, some naming several patients, some moved between patients, some
// deleted.
func seed(t *testing.T, s *fhirServer) {
	t.Helper()
	put := func(typ, id, body string) {
		t.Helper()
		b := `{"resourceType":"` + typ + `","id":"` + id + `"` + body + `}`
		if status, out := s.do("system", "PUT", "/"+typ+"/"+id, b); status != 200 && status != 201 {
			t.Fatalf("PUT %s/%s: %d %s", typ, id, status, out)
		}
	}
	del := func(typ, id string) {
		t.Helper()
		if status, out := s.do("system", "DELETE", "/"+typ+"/"+id, ""); status != 204 {
			t.Fatalf("DELETE %s/%s: %d %s", typ, id, status, out)
		}
	}
	ref := func(r string) string { return `{"reference":"` + r + `"}` }
	lab := `"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}]`
	vital := `"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}]`
	code := func(c, text string) string {
		return `"code":{"coding":[{"system":"http://loinc.org","code":"` + c + `"}],"text":"` + text + `"}`
	}

	put("Organization", "org1", `,"name":"North Clinic"`)
	put("Organization", "org2", `,"name":"South Clinic"`)
	for _, d := range []string{"dr1", "dr2", "dr3", "dr4"} {
		put("Practitioner", d, `,"name":[{"family":"Doctor`+d+`"}]`)
	}
	put("PractitionerRole", "pr1", `,"practitioner":`+ref("Practitioner/dr1")+`,"organization":`+ref("Organization/org1"))
	put("PractitionerRole", "pr2", `,"practitioner":`+ref("Practitioner/dr2")+`,"organization":`+ref("Organization/org2"))
	patient := func(id, family, birth, ssn, org, extra string) {
		b := `,"identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"` + ssn + `"}],"name":[{"family":"` + family +
			`","given":["Pat"]}],"gender":"female","birthDate":"` + birth + `"`
		if org != "" {
			b += `,"managingOrganization":` + ref("Organization/"+org)
		}
		put("Patient", id, b+extra)
	}
	patient("pA", "Abbot", "1980-01-01", "111-11-1111", "org1", "")
	patient("pB", "Brown", "1975-05-05", "222-22-2222", "org1", `,"link":[{"other":`+ref("Patient/pA")+`,"type":"seealso"}]`)
	patient("pC", "Cole", "1990-09-09", "333-33-3333", "org2", "")
	patient("pD", "Dunn", "1960-06-06", "444-44-4444", "org2", `,"generalPractitioner":[`+ref("Practitioner/dr4")+`]`)
	patient("pE", "Evans", "2001-02-03", "555-55-5555", "", "")
	put("RelatedPerson", "rpA", `,"patient":`+ref("Patient/pA")+`,"name":[{"family":"Abbot","given":["Carer"]}]`)
	put("RelatedPerson", "rpB", `,"patient":`+ref("Patient/pB"))
	put("Person", "perAC", `,"link":[{"target":`+ref("Patient/pA")+`},{"target":`+ref("Patient/pC")+`}]`)
	put("Person", "perE", `,"link":[{"target":`+ref("Patient/pE")+`}]`)
	put("CareTeam", "ct1", `,"status":"active","subject":`+ref("Patient/pB")+`,"participant":[{"member":`+ref("Practitioner/dr3")+`}]`)
	put("Group", "g1", `,"type":"person","actual":true,"member":[{"entity":`+ref("Patient/pA")+`},{"entity":`+ref("Patient/pB")+`}]`)

	day := 0
	obs := func(id, subject, performer, cat, c, text, value, focus string) {
		day++
		b := `,"status":"final",` + cat + `,` + code(c, text) + `,"subject":` + ref(subject) + `,"effectiveDateTime":"2024-03-` + fmt.Sprintf("%02d", day) + `"`
		if performer != "" {
			b += `,"performer":[` + ref(performer) + `]`
		}
		if value != "" {
			b += `,"valueString":"` + value + `"`
		}
		if focus != "" {
			b += `,"focus":[` + ref(focus) + `]`
		}
		put("Observation", id, b)
	}
	obs("oA1", "Patient/pA", "", lab, "2345-7", "Glucose", "high glucose", "")
	obs("oA2", "Patient/pA", "Patient/pB", vital, "8867-4", "Heart rate", "", "")
	obs("oB1", "Patient/pB", "", lab, "2345-7", "Glucose", "secret hba1c 9.9", "")
	obs("oB2", "Patient/pB", "Practitioner/dr1", lab, "718-7", "Hemoglobin", "", "Condition/cB")
	obs("oC1", "Patient/pC", "", vital, "8480-6", "Systolic", "", "")
	obs("oD1", "Patient/pD", "Practitioner/dr4", lab, "2093-3", "Cholesterol", "", "")
	obs("oE1", "Patient/pE", "", lab, "2345-7", "Glucose", "", "Condition/cB")
	obs("oG1", "Group/g1", "Patient/pA", vital, "29463-7", "Weight", "", "")
	// A resource that moved: pA's, then pB's, then pA's again.
	obs("oM1", "Patient/pA", "", lab, "1234-5", "Moved", "", "")
	obs("oM1", "Patient/pB", "", lab, "1234-5", "Moved", "", "")
	obs("oM1", "Patient/pA", "", lab, "1234-5", "Moved back", "", "")
	// Deleted: one of pA's, one of pB's.
	obs("oDa", "Patient/pA", "", lab, "2345-7", "Glucose", "", "")
	del("Observation", "oDa")
	obs("oDb", "Patient/pB", "", lab, "2345-7", "Glucose", "", "")
	del("Observation", "oDb")
	put("Condition", "cA", `,"subject":`+ref("Patient/pA")+`,"asserter":`+ref("Patient/pA")+`,"code":{"text":"asthma"}`)
	put("Condition", "cB", `,"subject":`+ref("Patient/pB")+`,"asserter":`+ref("Patient/pA")+`,"code":{"text":"secret diagnosis"}`)
	put("Condition", "cC", `,"subject":`+ref("Patient/pC")+`,"code":{"text":"migraine"}`)
	put("AllergyIntolerance", "aB", `,"patient":`+ref("Patient/pB")+`,"recorder":`+ref("Patient/pA")+`,"code":{"text":"penicillin"}`)
	put("Encounter", "eA", `,"status":"finished","class":{"code":"AMB"},"subject":`+ref("Patient/pA")+`,"serviceProvider":`+ref("Organization/org1"))
	put("Encounter", "eB", `,"status":"finished","class":{"code":"AMB"},"subject":`+ref("Patient/pB")+`,"serviceProvider":`+ref("Organization/org1"))
	msg := func(id, sender, recipient, subject, text, prio string) {
		b := `,"status":"in-progress","priority":"` + prio + `","sender":` + ref(sender) + `,"recipient":[` + ref(recipient) + `],"payload":[{"contentString":"` + text + `"}]`
		if subject != "" {
			b += `,"subject":` + ref(subject)
		}
		put("Communication", id, b)
	}
	msg("mA", "Patient/pA", "Practitioner/dr1", "Patient/pA", "refill please", "routine")
	msg("mB", "Patient/pB", "Practitioner/dr1", "Patient/pB", "chest pain secret", "stat")
	msg("mC", "Practitioner/dr2", "Patient/pC", "Patient/pC", "your results", "routine")
	put("Device", "dA", `,"patient":`+ref("Patient/pA")+`,"distinctIdentifier":"pump-a"`)
	put("Device", "dB", `,"patient":`+ref("Patient/pB")+`,"distinctIdentifier":"pump-b"`)
	put("Device", "dX", `,"distinctIdentifier":"spare"`)
	put("Appointment", "apA", `,"status":"booked","participant":[{"actor":`+ref("Patient/pA")+`,"status":"accepted"},{"actor":`+ref("Practitioner/dr1")+`,"status":"accepted"}]`)
	put("Appointment", "apB", `,"status":"booked","participant":[{"actor":`+ref("Patient/pB")+`,"status":"accepted"}]`)
	put("Schedule", "sch1", `,"actor":[`+ref("Practitioner/dr1")+`]`)
	put("Slot", "sl1", `,"schedule":`+ref("Schedule/sch1")+`,"status":"free","start":"2026-01-05T09:00:00Z","end":"2026-01-05T09:30:00Z"`)
	// Schedules naming a patient are that patient's (policy.namingParams): B's home dialysis.
	put("Schedule", "schA", `,"actor":[`+ref("Patient/pA")+`,`+ref("Practitioner/dr1")+`],"comment":"A physio"`)
	put("Schedule", "schB", `,"actor":[`+ref("Patient/pB")+`],"comment":"B home dialysis"`)
	put("Slot", "slB", `,"schedule":`+ref("Schedule/schB")+`,"status":"busy","start":"2026-01-06T09:00:00Z","end":"2026-01-06T13:00:00Z"`)
	put("Account", "acA", `,"status":"active","subject":[`+ref("Patient/pA")+`]`)
	put("Invoice", "invB", `,"status":"issued","subject":`+ref("Patient/pB"))
	put("Binary", "bin1", `,"contentType":"text/plain","securityContext":`+ref("Patient/pB")+`,"data":"c2VjcmV0"`)
	put("Bundle", "bun1", `,"type":"collection","entry":[{"resource":{"resourceType":"Patient","name":[{"family":"Hidden"}]}}]`)
	put("Medication", "med1", `,"code":{"text":"metformin"}`)
	put("Questionnaire", "q1", `,"status":"active","title":"Red flags"`)
}

// resource is one current resource of the dataset with its index entries.
type resource struct {
	typ, id string
	body    []byte
	deleted bool
	index   []store.IndexEntry
}

// dataset lists every resource of the store as the system sees it now.
func dataset(t *testing.T, s *fhirServer) []resource {
	t.Helper()
	var out []resource
	q := store.HistoryQuery{Count: 1000}
	seen := map[string]bool{}
	for {
		page, err := s.st.History(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range page.Records {
			k := rec.Type + "/" + rec.ID
			if seen[k] {
				continue // history is newest first: the first seen is current
			}
			seen[k] = true
			r := resource{typ: rec.Type, id: rec.ID, body: rec.Body, deleted: rec.Deleted()}
			if !r.deleted {
				res, err := fhir.ParseResource(rec.Body)
				if err != nil {
					t.Fatal(err)
				}
				if r.index, err = fhir.ExtractIndexBase(res, confBase); err != nil {
					t.Fatal(err)
				}
			}
			out = append(out, r)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	sort.Slice(out, func(i, j int) bool { return out[i].typ+out[i].id < out[j].typ+out[j].id })
	return out
}

// copyFor is a new server whose store holds what principal who may read on s: each current
// resource it reads (200), and each deleted one whose deletion it sees (410), with the last
// version it may see.
func copyFor(t *testing.T, s *fhirServer, who string, data []resource) *fhirServer {
	t.Helper()
	c := newFHIRServer(t, confPrincipals)
	for _, r := range data {
		status, body := s.do(who, "GET", "/"+r.typ+"/"+r.id, "")
		var write []byte
		switch status {
		case 200:
			write = body
		case 410:
			// The version before the tombstone, as the system reads it.
			hs, hb := s.do("system", "GET", "/"+r.typ+"/"+r.id+"/_history?_count=2", "")
			if hs != 200 {
				t.Fatalf("history of %s/%s: %d", r.typ, r.id, hs)
			}
			var b struct {
				Entry []struct{ Resource json.RawMessage }
			}
			_ = json.Unmarshal(hb, &b)
			write = b.Entry[1].Resource
		case 404, 403:
			continue
		default:
			t.Fatalf("%s reading %s/%s: %d %s", who, r.typ, r.id, status, body)
		}
		res, err := fhir.ParseResource(write)
		if err != nil {
			t.Fatal(err)
		}
		index, err := fhir.ExtractIndexBase(res, confBase)
		if err != nil {
			t.Fatal(err)
		}
		lu, _ := time.Parse(time.RFC3339Nano, res.Root.Get("meta").Get("lastUpdated").Text)
		w := store.Write{Op: store.OpCreate, Type: r.typ, ID: r.id, Version: 1, LastUpdated: lu, Body: write, Index: index}
		if err := derived.Wrap(c.st).Write(t.Context(), w); err != nil {
			t.Fatal(err)
		}
		if status == 410 {
			if err := c.st.Write(t.Context(), store.Write{Op: store.OpDelete, Type: r.typ, ID: r.id, Version: 2, LastUpdated: lu.Add(time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// answer is what a search tells: the status, and for each page the entries (mode and
// Type/id) and the total; an error's issue code otherwise.
func answer(s *fhirServer, who, query string) string {
	var b strings.Builder
	path := "/" + query
	for page := 0; path != "" && page < 20; page++ {
		status, body := s.do(who, "GET", path, "")
		fmt.Fprintf(&b, "[%d", status)
		path = ""
		var bundle struct {
			ResourceType string
			Total        *int
			Link         []struct{ Relation, URL string }
			Entry        []struct {
				Resource json.RawMessage
				Search   struct{ Mode string }
			}
			Issue []struct{ Code string }
		}
		_ = json.Unmarshal(body, &bundle)
		if bundle.Total != nil {
			fmt.Fprintf(&b, " total=%d", *bundle.Total)
		}
		for _, e := range bundle.Entry {
			var r struct{ ResourceType, ID string }
			_ = json.Unmarshal(e.Resource, &r)
			if e.Search.Mode == "outcome" {
				continue // warnings: the same on both
			}
			fmt.Fprintf(&b, " %s:%s/%s", e.Search.Mode, r.ResourceType, r.ID)
		}
		for _, is := range bundle.Issue {
			fmt.Fprintf(&b, " issue=%s", is.Code)
		}
		for _, l := range bundle.Link {
			if l.Relation == "next" {
				path = strings.TrimPrefix(l.URL, confBase)
			}
		}
		b.WriteString("]")
	}
	return b.String()
}

// queries generates the searches: hand-written probes of the attacks found in review, and
// for every resource (those the principal may not see above all) queries built from its index
// entries: each parameter with its value, chains through its references into the target's
// values, and _has from its targets back to it.
func queries(data []resource, rng *rand.Rand) []string {
	qs := []string{
		"Practitioner?_has:Observation:performer:value-string=secret",
		"Practitioner?_id=dr1&_has:Observation:performer:code=718-7",
		"Observation?patient.identifier=222-22-2222",
		"Observation?subject:Patient.identifier=http://hl7.org/fhir/sid/us-ssn|222-22-2222",
		"Device?_id=dB&patient.birthdate=1975",
		"Device?patient.family=Bro",
		"Observation?_id=oA1&focus:Condition.code:text=secret",
		"Observation?focus:Condition.code:text=secret",
		"Observation?subject:Patient.birthdate=1975&_summary=count",
		"Observation?subject:Patient.organization:Organization.name=North",
		"Patient?_has:Observation:subject:_has:Condition:subject:code:text=secret",
		"Patient?_has:Condition:subject:code:text=secret&_summary=count",
		"Patient?family=Bro", "Patient?name=B", "Patient?identifier=222-22-2222",
		"Patient?link:Patient.family=Abb", "Patient?general-practitioner=Practitioner/dr4",
		"Practitioner?_has:PractitionerRole:practitioner:organization=Organization/org2",
		"Organization?_has:Patient:organization:family=Cole",
		"Group?member:Patient.family=Brown",
		"?_type=Observation,Condition&_count=2", "?_type=Observation,Condition,Patient&_total=accurate",
		"?_type=Communication,Device,Appointment&_count=1",
		"Observation?_count=2", "Observation?_count=3&_sort=-date", "Observation?_total=accurate&_count=1",
		"Observation?_summary=count", "Condition?_summary=count", "Communication?_summary=count",
		"Observation?_include=Observation:subject&_include=Observation:performer",
		"Observation?_include=Observation:focus&_include:iterate=Condition:asserter",
		"Patient?_revinclude=Observation:subject&_revinclude=Condition:asserter",
		"Patient?_revinclude=Observation:performer&_revinclude:iterate=Observation:focus",
		"Patient?_revinclude=Device:patient&_revinclude=Group:member",
		"Condition?_include=Condition:subject&_include=Condition:asserter",
		"Communication?_include=Communication:recipient&_sort=priority",
		"Appointment?_include=Appointment:actor", "Slot?_include=Slot:schedule&_include:iterate=Schedule:actor",
		"Slot?schedule.actor=Patient/pB", "Slot?schedule:Schedule.actor:Patient.family=Bro", "Schedule?actor:Patient.birthdate=1975",
		"Patient?_has:Schedule:actor:_id=schB", "Schedule?_include=Schedule:actor", "Patient?_revinclude=Schedule:actor",
		"Device", "Binary", "Bundle", "Linkage", "Schedule", "Slot", "Medication", "Questionnaire", "Account", "Invoice",
		"RelatedPerson", "Person", "CareTeam", "Group", "Encounter", "AllergyIntolerance", "PractitionerRole",
	}
	for _, r := range data {
		if r.deleted {
			continue
		}
		byID := map[string]resource{}
		for _, x := range data {
			byID[x.typ+"/"+x.id] = x
		}
		for _, e := range r.index {
			v, ok := searchValue(e)
			if !ok {
				continue
			}
			qs = append(qs, r.typ+"?"+e.Param+"="+url.QueryEscape(v))
			if e.Kind != store.KindReference || e.RefID == "" {
				continue
			}
			target, ok := byID[e.RefType+"/"+e.RefID]
			if !ok || target.deleted {
				continue
			}
			// A chain through this reference into one of the target's values.
			if te, ok := pick(target.index, rng); ok {
				if tv, ok := searchValue(te); ok {
					qs = append(qs, r.typ+"?"+e.Param+":"+e.RefType+"."+te.Param+"="+url.QueryEscape(tv))
				}
			}
			// _has from the target back through this reference, on another value of r.
			if oe, ok := pick(r.index, rng); ok {
				if ov, ok := searchValue(oe); ok && oe.Kind != store.KindComposite {
					qs = append(qs, e.RefType+"?_has:"+r.typ+":"+e.Param+":"+oe.Param+"="+url.QueryEscape(ov))
				}
			}
		}
	}
	slices.Sort(qs)
	return slices.Compact(qs)
}

func pick(index []store.IndexEntry, rng *rand.Rand) (store.IndexEntry, bool) {
	if len(index) == 0 {
		return store.IndexEntry{}, false
	}
	return index[rng.IntN(len(index))], true
}

// searchValue writes an index entry as a search value that matches it: a token's
// system|code, a string's first letters (a prefix, as an attacker guesses), a reference, a
// date's day.
func searchValue(e store.IndexEntry) (string, bool) {
	if strings.HasPrefix(e.Param, "_") || strings.Contains(e.Param, ":") {
		return "", false
	}
	switch e.Kind {
	case store.KindToken:
		if e.Code == "" {
			return "", false
		}
		if e.System != "" {
			return e.System + "|" + e.Code, true
		}
		return e.Code, true
	case store.KindString:
		if len(e.Text) < 2 {
			return "", false
		}
		return e.Text[:min(4, len(e.Text))], true
	case store.KindReference:
		if e.RefID == "" {
			return "", false
		}
		return e.RefType + "/" + e.RefID, true
	case store.KindDate:
		return time.UnixMilli(int64(e.Low)).UTC().Format("2006-01-02"), true
	}
	return "", false
}

// differences runs the queries for every restricted principal and lists each difference.
func differences(t *testing.T) []string {
	real := newFHIRServer(t, confPrincipals)
	seed(t, real)
	data := dataset(t, real)
	rng := rand.New(rand.NewPCG(7, 7))
	qs := queries(data, rng)
	var diffs []string
	whos := slices.Sorted(func(yield func(string) bool) {
		for k := range confPrincipals {
			if k != "system" && !yield(k) {
				return
			}
		}
	})
	for _, who := range whos {
		cp := copyFor(t, real, who, data)
		for _, q := range qs {
			onReal := answer(real, who, q)
			onCopy := answer(cp, who, q)
			if onReal != onCopy {
				diffs = append(diffs, fmt.Sprintf("%s %s:\n  real %s\n  copy %s", who, q, onReal, onCopy))
				continue
			}
			if strings.HasPrefix(onReal, "[403") {
				continue
			}
			if bySystem := answer(cp, "system", q); bySystem != onReal {
				diffs = append(diffs, fmt.Sprintf("%s %s:\n  real          %s\n  system, copy  %s", who, q, onReal, bySystem))
			}
		}
		diffs = append(diffs, bundleDifferences(real, cp, who, qs)...)
	}
	t.Logf("%d principals, %d searches each (and their Bundle forms)", len(whos), len(qs))
	return diffs
}

// bundleDifferences asks the same searches as GET entries of batch Bundles.
func bundleDifferences(real, cp *fhirServer, who string, qs []string) []string {
	var diffs []string
	for i := 0; i < len(qs); i += 25 {
		var entries []string
		for _, q := range qs[i:min(i+25, len(qs))] {
			u, _ := json.Marshal(q)
			entries = append(entries, `{"request":{"method":"GET","url":`+string(u)+`}}`)
		}
		batch := `{"resourceType":"Bundle","type":"batch","entry":[` + strings.Join(entries, ",") + `]}`
		a, b := bundleAnswer(real, who, batch), bundleAnswer(cp, who, batch)
		if a != b {
			diffs = append(diffs, fmt.Sprintf("%s batch %d:\n  real %s\n  copy %s", who, i, a, b))
		}
	}
	return diffs
}

func bundleAnswer(s *fhirServer, who, batch string) string {
	status, body := s.do(who, "POST", "", batch)
	var b strings.Builder
	fmt.Fprintf(&b, "%d", status)
	var out struct {
		Entry []struct {
			Resource json.RawMessage
			Response struct{ Status string }
		}
	}
	_ = json.Unmarshal(body, &out)
	for _, e := range out.Entry {
		var inner struct {
			Total *int
			Entry []struct {
				Resource struct{ ResourceType, ID string }
				Search   struct{ Mode string }
			}
		}
		_ = json.Unmarshal(e.Resource, &inner)
		fmt.Fprintf(&b, " (%s", e.Response.Status)
		if inner.Total != nil {
			fmt.Fprintf(&b, " total=%d", *inner.Total)
		}
		for _, x := range inner.Entry {
			if x.Search.Mode != "outcome" {
				fmt.Fprintf(&b, " %s/%s", x.Resource.ResourceType, x.Resource.ID)
			}
		}
		b.WriteString(")")
	}
	return b.String()
}

// confMongoURI, when set (TestConfinementOnMongo), makes the servers use MongoDB.
var (
	confMongoURI string
	confDBs      atomic.Int64
)

func openConfStore(t *testing.T) store.Store {
	t.Helper()
	if confMongoURI != "" {
		db := fmt.Sprintf("portico_conf_%d_%d", os.Getpid(), confDBs.Add(1))
		m, err := mongo.Open(context.Background(), mongo.Config{URI: confMongoURI, Database: db})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = m.DropDatabase(context.Background())
			_ = m.Close()
		})
		return m
	}
	st, err := sqlite.Open(context.Background(), sqlite.Config{Dir: t.TempDir(), Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestConfinementOnMongo: the same differential test with both servers on MongoDB
// (mongo-java-server, or PORTICO_TEST_MONGODB_URI), whose search is a different code path.
func TestConfinementOnMongo(t *testing.T) {
	uri := mongojava.TestURI(t, "../"+mongojava.Jar)
	confMongoURI = uri
	defer func() { confMongoURI = "" }()
	TestConfinement(t)
}

func TestConfinement(t *testing.T) {
	t.Run("a Schedule naming a patient is theirs", func(t *testing.T) {
		s := newFHIRServer(t, confPrincipals)
		seed(t, s)
		for _, c := range []struct {
			who, path string
			want      int
		}{
			{"patient-A", "/Schedule/schB", 404}, {"patient-A", "/Schedule/schA", 200}, {"patient-A", "/Schedule/sch1", 200},
			{"patient-B-write", "/Schedule/schB", 200}, {"patient-B-write", "/Schedule/schA", 404},
			{"dr3-careteam", "/Schedule/sch1", 200},
		} {
			if status, _ := s.do(c.who, "GET", c.path, ""); status != c.want {
				t.Errorf("%s GET %s: %d, want %d", c.who, c.path, status, c.want)
			}
		}
		if _, body := s.do("patient-A", "GET", "/Schedule", ""); strings.Contains(string(body), "schB") || !strings.Contains(string(body), "sch1") {
			t.Errorf("patient A's Schedule search: %s", body)
		}
	})
	t.Run("a Schedule naming a patient in any spelling is theirs", func(t *testing.T) {
		s := newFHIRServer(t, confPrincipals)
		seed(t, s)
		// The blind attack's reference forms: the loose spellings of a local reference are
		// read as Patient/pB (pB sees them); a reference that names the Patient type without
		// resolving here hides the Schedule from every confined caller (fail closed).
		forms := map[string]struct {
			ref    string
			bSees  bool
			isType bool // {"type":"Patient","identifier":...}
		}{
			"rf-rel": {"Patient/pB", true, false}, "rf-ver": {"Patient/pB/_history/1", true, false},
			"rf-abs": {confBase + "/Patient/pB", true, false}, "rf-lead": {"/Patient/pB", true, false},
			"rf-trail": {confBase + "/Patient/pB/", true, false}, "rf-dslash": {confBase + "//Patient/pB", true, false},
			"rf-dot": {confBase + "/./Patient/pB", true, false}, "rf-upper": {"HTTP://PORTICO.TEST/fhir/Patient/pB", true, false},
			"rf-host":  {"http://localhost:8080/fhir/Patient/pB", false, false},
			"rf-cond":  {"Patient?identifier=urn:mrn|MRN-B", false, false},
			"rf-ident": {"", false, true},
		}
		for id, f := range forms {
			actor := `{"reference":"` + f.ref + `"}`
			if f.isType {
				actor = `{"type":"Patient","identifier":{"system":"urn:mrn","value":"MRN-B"}}`
			}
			if status, body := s.do("system", "PUT", "/Schedule/"+id, `{"resourceType":"Schedule","id":"`+id+`","actor":[`+actor+`]}`); status/100 != 2 {
				t.Fatalf("PUT %s: %d %s", id, status, body)
			}
		}
		for id, f := range forms {
			if status, _ := s.do("patient-A", "GET", "/Schedule/"+id, ""); status != 404 {
				t.Errorf("patient A reads %s (%s): %d, want 404", id, f.ref, status)
			}
			want := 404
			if f.bSees {
				want = 200
			}
			if status, _ := s.do("patient-B-write", "GET", "/Schedule/"+id, ""); status != want {
				t.Errorf("patient B reads %s (%s): %d, want %d", id, f.ref, status, want)
			}
		}
		_, body := s.do("patient-A", "GET", "/Schedule?_count=100", "")
		for id := range forms {
			if strings.Contains(string(body), `"`+id+`"`) {
				t.Errorf("patient A's Schedule search shows %s", id)
			}
		}
	})
	t.Run("a Slot is seen only with its Schedule", func(t *testing.T) {
		s := newFHIRServer(t, confPrincipals)
		seed(t, s)
		for _, c := range []struct {
			who, path string
			want      int
		}{
			{"patient-A", "/Slot/slB", 404}, {"patient-A", "/Slot/sl1", 200}, {"patient-A", "/Slot/slB/_history/1", 404},
			{"patient-B-write", "/Slot/slB", 200}, {"carer-of-A", "/Slot/slB", 404}, {"system", "/Slot/slB", 200},
		} {
			if status, _ := s.do(c.who, "GET", c.path, ""); status != c.want {
				t.Errorf("%s GET %s: %d, want %d", c.who, c.path, status, c.want)
			}
		}
		for _, c := range []struct {
			who, query string
			want       int
		}{
			{"patient-A", "/Slot?schedule=Schedule/schB&_summary=count", 0},
			{"patient-A", "/Slot?_summary=count", 1},
			{"patient-A", "/Slot?_id=slB&_summary=count", 0},
			{"patient-A", "/Schedule?_has:Slot:schedule:status=busy&_summary=count", 0},
			{"patient-B-write", "/Slot?schedule=Schedule/schB&_summary=count", 1},
			{"patient-B-write", "/Slot?_summary=count", 2},
		} {
			status, body := s.do(c.who, "GET", c.query, "")
			var b struct{ Total int }
			if err := json.Unmarshal(body, &b); status != 200 || err != nil || b.Total != c.want {
				t.Errorf("%s GET %s: %d total %d, want %d (%s)", c.who, c.query, status, b.Total, c.want, body)
			}
		}
		// Through a Bundle and an include, the same.
		_, body := s.do("patient-A", "GET", "/Schedule?_revinclude=Slot:schedule", "")
		if strings.Contains(string(body), "slB") {
			t.Errorf("patient A's Schedule search revincluded B's Slot: %s", body)
		}
	})
	t.Run("a cursor pages only for the caller it was given to", func(t *testing.T) {
		s := newFHIRServer(t, confPrincipals)
		seed(t, s)
		status, body := s.do("patient-A", "GET", "/Observation?_count=1", "")
		var b struct {
			Link []struct{ Relation, URL string }
		}
		_ = json.Unmarshal(body, &b)
		next := ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				next = strings.TrimPrefix(l.URL, confBase)
			}
		}
		if status != 200 || next == "" {
			t.Fatalf("patient A's first page: %d, next %q", status, next)
		}
		if status, _ := s.do("patient-A", "GET", next, ""); status != 200 {
			t.Errorf("patient A's own next page: %d", status)
		}
		for _, who := range []string{"system", "patient-B-write", "carer-of-A"} { // (the test principals have no client id)
			if status, _ := s.do(who, "GET", next, ""); status != 400 {
				t.Errorf("%s following patient A's cursor: %d, want 400", who, status)
			}
		}
	})
	diffs := differences(t)
	for i, d := range diffs {
		if i == 40 {
			t.Errorf("... and %d more", len(diffs)-40)
			break
		}
		t.Error(d)
	}
}

// clientSearchesBlocked is a store whose searches, but the server's own (store.Internal), wait
// until their context ends: as if costly searches of other callers held every connection.
type clientSearchesBlocked struct {
	store.Store
	blocked *atomic.Bool
}

func (s clientSearchesBlocked) Search(ctx context.Context, q store.Query) (store.Page, error) {
	if s.blocked.Load() && !store.IsInternal(ctx) {
		<-ctx.Done()
		return store.Page{}, ctx.Err()
	}
	return s.Store.Search(ctx, q)
}

// TestReadsByIDNeedNoClientSearch: a read by id of every kind of caller (patients, carers,
// Persons, staff whose reach is a list or a clause, system) uses only the server's own searches
// (store.Internal: its checks run on the pool of reads by id), so that clients' costly searches
// holding every search connection hold up no read by id (the blind attack's who_is_blocked and
// minute_stall probes).
func TestReadsByIDNeedNoClientSearch(t *testing.T) {
	blocked := &atomic.Bool{}
	s := newFHIRServerOver(t, confPrincipals, clientSearchesBlocked{openConfStore(t), blocked})
	seed(t, s)
	data := dataset(t, s)
	blocked.Store(true)
	for who := range confPrincipals {
		for _, r := range data {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a bound on a hang
			done := make(chan int, 1)
			go func() { st, _ := s.do(who, "GET", "/"+r.typ+"/"+r.id, ""); done <- st }()
			select {
			case st := <-done:
				if st >= 500 {
					t.Errorf("%s reading %s/%s: %d", who, r.typ, r.id, st)
				}
			case <-ctx.Done():
				t.Fatalf("%s reading %s/%s waits for a client search", who, r.typ, r.id)
			}
			cancel()
		}
	}
}

// TestConfinementCatchesUnfilteredSubquery proves the test above would fail if the policy's
// filter were left out of chains and _has.
func TestConfinementCatchesUnfilteredSubquery(t *testing.T) {
	guard.SetSubqueryFilter(false)
	defer guard.SetSubqueryFilter(true)
	if diffs := differences(t); len(diffs) == 0 {
		t.Fatal("with subqueries unfiltered, the confinement test found no difference")
	} else {
		t.Logf("with subqueries unfiltered: %d differences, e.g.\n%s", len(diffs), diffs[0])
	}
}
