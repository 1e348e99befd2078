package triagehook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/internal/mongojava"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/intent"
	"github.com/portico-health/portico/store/mongo"
	"github.com/portico-health/portico/store/sqlite"
	"github.com/portico-health/portico/triage"
	"github.com/portico-health/portico/triage/model"
)

// env is a real in-process Portico (Echo, api, SQLite) with the triage hook and a settable clock.
type env struct {
	t    testing.TB
	base string
	mu   sync.Mutex
	now  time.Time
}

// testEngine is the shipped lexicons with testdata/protocols.json and the learned layer off:
// the hook's tests check routing, dates and replies, not the classifier (evaluation_test.go).
func testEngine(t testing.TB) *triage.Engine {
	t.Helper()
	e, err := triage.New("testdata/protocols.json")
	if err != nil {
		t.Fatal(err)
	}
	off := *e
	off.Thresholds = model.Thresholds{Stat: 2, ASAP: 2, Urgent: 2, Review: 2}
	return &off
}

// newEnv serves the FHIR API with the hook of engine e (nil: the shipped engine) and cfg.
func newEnv(t testing.TB, e *triage.Engine, cfg *Config) *env {
	t.Helper()
	st := openStore(t)
	h, err := New(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ec := echo.New()
	srv := httptest.NewServer(ec)
	t.Cleanup(srv.Close)
	x := &env{t: t, base: srv.URL + "/fhir", now: time.Now()}
	a, err := api.New(api.Config{Store: st, BaseURL: x.base, WriteHooks: []api.WriteHook{h},
		Now: func() time.Time { x.mu.Lock(); defer x.mu.Unlock(); return x.now }})
	if err != nil {
		t.Fatal(err)
	}
	ec.HTTPErrorHandler = a.HTTPErrorHandler
	g := ec.Group("/fhir")
	g.GET(StatsPath, h.StatsHandler(func(context.Context) (store.Store, error) { return st, nil }, x.base,
		func() time.Time { x.mu.Lock(); defer x.mu.Unlock(); return x.now }))
	a.Register(g)
	return x
}

// mongoURI, when set (TestOnMongo), makes openStore use MongoDB instead of SQLite.
var (
	mongoURI string
	mongoDBs atomic.Int64
)

// openStore opens an empty store, wired as the server wires it (follow-ups sequenced where
// the store has no transactions).
func openStore(t testing.TB) store.Store {
	t.Helper()
	var st store.Store
	if mongoURI != "" {
		db := fmt.Sprintf("portico_hook_%d_%d", os.Getpid(), mongoDBs.Add(1))
		m, err := mongo.Open(context.Background(), mongo.Config{URI: mongoURI, Database: db})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = m.DropDatabase(context.Background())
			_ = m.Close()
		})
		st = m
	} else {
		s, err := sqlite.Open(context.Background(), sqlite.Config{Dir: t.TempDir(), Sync: "normal"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		st = s
	}
	return intent.Wrap(st, nil)
}

// TestOnMongo runs the hook's HTTP tests on MongoDB (mongo-java-server, without transactions,
// or PORTICO_TEST_MONGODB_URI): the workflows that write several resources go through
// store/intent there. Two answers in one transaction is a transaction of two client writes,
// which answers 501 without transactions (docs/mongodb.md).
func TestOnMongo(t *testing.T) {
	uri := mongojava.TestURI(t, "../../"+mongojava.Jar)
	mongoURI = uri
	defer func() { mongoURI = "" }()
	for name, test := range map[string]func(*testing.T){
		"TriageInHours": TestTriageInHours, "StatSafetyNet": TestStatSafetyNet, "AfterHours": TestAfterHours,
		"WorklistAnswerAndDelete": TestWorklistAnswerAndDelete, "TransactionTriages": TestTransactionTriages,
		"Stats": TestStats, "CareTeamRouting": TestCareTeamRouting,
	} {
		t.Run(name, test)
	}
}

func (x *env) at(tm time.Time) { x.mu.Lock(); x.now = tm; x.mu.Unlock() }

// do sends a request and decodes the JSON answer (nil when there is none).
func (x *env) do(method, path, body string) (int, map[string]any) {
	x.t.Helper()
	req, _ := http.NewRequest(method, x.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &m); err != nil {
			x.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode, m
}

func (x *env) must(status int, method, path, body string) map[string]any {
	x.t.Helper()
	got, m := x.do(method, path, body)
	if got != status {
		x.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, status, m)
	}
	return m
}

// message is a patient message as a portal sends it.
func message(text string) string {
	b, _ := json.Marshal(text)
	return `{"resourceType":"Communication","status":"completed","subject":{"reference":"Patient/pat-1"},
		"sender":{"reference":"Patient/pat-1"},"recipient":[{"reference":"Practitioner/dr-y"}],
		"payload":[{"contentString":` + string(b) + `}]}`
}

// get walks a decoded JSON value: keys for objects, ints for arrays.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func ext(res map[string]any, url string) map[string]any {
	exts, _ := res["extension"].([]any)
	for _, e := range exts {
		if m := e.(map[string]any); m["url"] == url {
			return m
		}
	}
	return nil
}

func recipients(res map[string]any) []string {
	var out []string
	for _, r := range res["recipient"].([]any) {
		out = append(out, r.(map[string]any)["reference"].(string))
	}
	return out
}

func category(res map[string]any) string {
	for _, c := range res["category"].([]any) {
		for _, cd := range get(c, "coding").([]any) {
			if get(cd, "system") == "http://portico.health/fhir/CodeSystem/message-category" {
				return get(cd, "code").(string)
			}
		}
	}
	return ""
}

func setup(t *testing.T) *env {
	x := newEnv(t, testEngine(t), testConfig(t))
	x.must(201, "PUT", "/Patient/pat-1", `{"resourceType":"Patient","id":"pat-1","generalPractitioner":[{"reference":"Practitioner/gp-1"}]}`)
	return x
}

func TestTriageInHours(t *testing.T) {
	x := setup(t)
	x.at(ny(t, "2026-01-14 10:00"))
	m := x.must(201, "POST", "/Communication", message("my cough is getting worse since monday"))
	if m["priority"] != "urgent" || category(m) != "clinical" || m["status"] != "in-progress" {
		t.Errorf("priority %v, category %s, status %v", m["priority"], category(m), m["status"])
	}
	if got := strings.Join(recipients(m), " "); got != "Practitioner/dr-y Practitioner/gp-1" {
		t.Errorf("recipients %s", got)
	}
	if get(m, "recipient", 0, "extension") != nil || get(m, "recipient", 1, "extension", 0, "valueString") != "clinical" {
		t.Errorf("routing marks: %v", m["recipient"])
	}
	if d := get(ext(m, ExtDue), "valueDateTime"); d != "2026-01-15T10:00:00-05:00" {
		t.Errorf("due %v", d)
	}
	if ext(m, ExtAutoReply) != nil || ext(m, ExtOutOfHours) != nil {
		t.Errorf("an in-hours urgent message got an automatic reply or the out-of-hours mark")
	}
	if m["received"] != "2026-01-14T15:00:00.000Z" {
		t.Errorf("received %v", m["received"])
	}
	// A message from a practitioner is not triaged.
	m = x.must(201, "POST", "/Communication", `{"resourceType":"Communication","status":"completed","sender":{"reference":"Practitioner/dr-y"},"payload":[{"contentString":"chest pain"}]}`)
	if m["priority"] != nil || m["extension"] != nil {
		t.Errorf("a practitioner's message was triaged: %v", m)
	}
}

func TestStatSafetyNet(t *testing.T) {
	x := setup(t)
	x.at(ny(t, "2026-01-14 10:00"))
	for _, tt := range []struct{ text, lang, phrase string }{
		{"refill my lisinopril and also crushing chest pain since an hour", "en", "Call 911 now"},
		{"me duele mucho el pecho y no puedo respirar", "es", "Llame al 911 ahora"},
	} {
		m := x.must(201, "POST", "/Communication", message(tt.text))
		if m["priority"] != "stat" {
			t.Fatalf("%q: priority %v", tt.text, m["priority"])
		}
		if rs := recipients(m); rs[0] != "Practitioner/dr-y" || !strings.Contains(strings.Join(rs, " "), "PractitionerRole/on-call") {
			t.Errorf("recipients %v", rs)
		}
		ref, _ := get(ext(m, ExtAutoReply), "valueReference", "reference").(string)
		if ref == "" {
			t.Fatalf("no automatic reply: %v", m)
		}
		r := x.must(200, "GET", "/"+ref, "")
		if get(r, "inResponseTo", 0, "reference") != "Communication/"+m["id"].(string) || get(r, "sender", "reference") != "Organization/practice" ||
			get(r, "recipient", 0, "reference") != "Patient/pat-1" || r["language"] != tt.lang ||
			!strings.Contains(get(r, "payload", 0, "contentString").(string), tt.phrase) {
			t.Errorf("reply %v", r)
		}
		if v := get(r, "meta", "lastUpdated"); v != get(m, "meta", "lastUpdated") {
			t.Errorf("reply written at %v, message at %v", v, get(m, "meta", "lastUpdated"))
		}
		// The reply is not an answer: the message stays open.
		if got := x.must(200, "GET", "/Communication/"+m["id"].(string), ""); got["status"] != "in-progress" {
			t.Errorf("status %v after the automatic reply", got["status"])
		}
	}
}

func TestAfterHours(t *testing.T) {
	x := setup(t)
	// 17:30 on Friday 16 January 2026; Monday 19 January is a holiday.
	x.at(ny(t, "2026-01-16 17:30"))
	m := x.must(201, "POST", "/Communication", message("can I get a refill of my atorvastatin please, I have a week left"))
	if m["priority"] != "routine" || category(m) != "medication" {
		t.Fatalf("priority %v category %s", m["priority"], category(m))
	}
	if rs := recipients(m); strings.Join(rs, " ") != "Practitioner/dr-y Group/pharmacy-pool" {
		t.Errorf("recipients %v", rs)
	}
	if d := get(ext(m, ExtDue), "valueDateTime"); d != "2026-01-22T17:00:00-05:00" {
		t.Errorf("due %v", d)
	}
	if get(ext(m, ExtOutOfHours), "valueBoolean") != true {
		t.Errorf("no out-of-hours mark")
	}
	ref, _ := get(ext(m, ExtAutoReply), "valueReference", "reference").(string)
	r := x.must(200, "GET", "/"+ref, "")
	text, _ := get(r, "payload", 0, "contentString").(string)
	if !strings.Contains(text, "Tuesday 20 January 2026 at 08:00") || !strings.Contains(text, "Thursday 22 January 2026 at 17:00") {
		t.Errorf("after-hours reply %q", text)
	}
	// 16:59 the same Friday: open, urgent due Tuesday 16:59, no reply.
	x.at(ny(t, "2026-01-16 16:59"))
	m = x.must(201, "POST", "/Communication", message("I have had a fever and a rash since yesterday"))
	if m["priority"] != "urgent" || get(ext(m, ExtDue), "valueDateTime") != "2026-01-20T16:59:00-05:00" || ext(m, ExtAutoReply) != nil {
		t.Errorf("16:59 Friday: priority %v due %v reply %v", m["priority"], get(ext(m, ExtDue), "valueDateTime"), ext(m, ExtAutoReply))
	}
}

func TestWorklistAnswerAndDelete(t *testing.T) {
	x := setup(t)
	x.at(ny(t, "2026-01-14 09:00"))
	ids := map[string]string{}
	for _, m := range []struct{ name, text string }{
		{"routine", "please send me the results of my cholesterol test"},
		{"stat", "I took 30 pills of my sleeping medicine"},
		{"urgent", "burning when I pee for two days"},
		{"asap", "my blood sugar is 450 and I feel awful"},
		{"urgent2", "new rash on my arm, getting worse"},
	} {
		r := x.must(201, "POST", "/Communication", message(m.text))
		ids[m.name] = r["id"].(string)
		x.at(x.now.Add(time.Minute))
	}
	b := x.must(200, "GET", "/Communication?recipient=Practitioner/dr-y&status=in-progress&_sort=priority,due", "")
	var order []string
	for _, e := range b["entry"].([]any) {
		order = append(order, get(e, "resource", "priority").(string))
	}
	if got := strings.Join(order, " "); got != "stat asap urgent urgent routine" {
		t.Errorf("worklist order %s", got)
	}
	if get(b, "entry", 2, "resource", "id") != ids["urgent"] {
		t.Errorf("urgent messages are not in due order")
	}
	// Overdue: at 09:20 only the stat message (due 09:15) is overdue.
	x.at(ny(t, "2026-01-14 09:20"))
	b = x.must(200, "GET", "/Communication?status=in-progress&due=lt2026-01-14T09:20:00-05:00", "")
	if n := len(b["entry"].([]any)); n != 1 || get(b, "entry", 0, "resource", "id") != ids["stat"] {
		t.Errorf("overdue: %d entries", n)
	}

	// Answering completes the message and records the response time, in the same write.
	ans := x.must(201, "POST", "/Communication", `{"resourceType":"Communication","status":"completed",
		"inResponseTo":[{"reference":"Communication/`+ids["urgent"]+`"}],"sender":{"reference":"Practitioner/dr-y"},
		"recipient":[{"reference":"Patient/pat-1"}],"payload":[{"contentString":"Please drop off a urine sample today."}]}`)
	o := x.must(200, "GET", "/Communication/"+ids["urgent"], "")
	resp := ext(o, ExtResponse)
	if o["status"] != "completed" || resp == nil || get(o, "meta", "versionId") != "2" {
		t.Fatalf("after the answer: %v", o)
	}
	sub := map[string]any{}
	for _, e := range resp["extension"].([]any) {
		sub[get(e, "url").(string)] = e
	}
	if get(sub["answer"], "valueReference", "reference") != "Communication/"+ans["id"].(string) ||
		get(sub["elapsed"], "valueDuration", "value") != 18.0 || get(sub["onTime"], "valueBoolean") != true {
		t.Errorf("response extension %v", resp)
	}
	b = x.must(200, "GET", "/Communication?recipient=Practitioner/dr-y&status=in-progress", "")
	if n := len(b["entry"].([]any)); n != 4 {
		t.Errorf("%d open messages after an answer, want 4", n)
	}

	// A clinician changes the priority; history keeps both.
	o = x.must(200, "GET", "/Communication/"+ids["routine"], "")
	o["priority"] = "urgent"
	body, _ := json.Marshal(o)
	u := x.must(200, "PUT", "/Communication/"+ids["routine"], string(body))
	if u["priority"] != "urgent" {
		t.Errorf("clinician's priority not kept: %v", u["priority"])
	}
	h := x.must(200, "GET", "/Communication/"+ids["routine"]+"/_history", "")
	if get(h, "entry", 0, "resource", "priority") != "urgent" || get(h, "entry", 1, "resource", "priority") != "routine" {
		t.Errorf("history %v / %v", get(h, "entry", 0, "resource", "priority"), get(h, "entry", 1, "resource", "priority"))
	}

	// Patient messages are never deleted.
	st, oo := x.do("DELETE", "/Communication/"+ids["asap"], "")
	if st != 409 || get(oo, "issue", 0, "code") != "business-rule" {
		t.Errorf("DELETE of a patient message: %d %v", st, oo)
	}
	st, _ = x.do("DELETE", "/Communication?_id="+ids["asap"], "")
	if st != 409 {
		t.Errorf("conditional DELETE of a patient message: %d", st)
	}
	st, _ = x.do("POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Communication/`+ids["asap"]+`"}}]}`)
	if st != 409 {
		t.Errorf("DELETE in a transaction: %d", st)
	}
	x.must(204, "DELETE", "/Communication/"+ans["id"].(string), "") // a clinician's message may be
}

func TestTransactionTriages(t *testing.T) {
	x := setup(t)
	x.at(ny(t, "2026-01-14 10:00"))
	b := x.must(200, "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:0c3f0a4e-0000-4000-8000-000000000001","resource":`+message("I can't breathe")+`,"request":{"method":"POST","url":"Communication"}}]}`)
	loc, _ := get(b, "entry", 0, "response", "location").(string)
	m := x.must(200, "GET", "/"+strings.Join(strings.Split(loc, "/")[:2], "/"), "")
	if m["priority"] != "stat" || ext(m, ExtAutoReply) == nil {
		t.Errorf("transaction entry not triaged: %v", m)
	}
	ref := get(ext(m, ExtAutoReply), "valueReference", "reference").(string)
	x.must(200, "GET", "/"+ref, "")
}

func TestStats(t *testing.T) {
	x := setup(t)
	x.at(ny(t, "2026-01-14 09:00"))
	var ids []string
	// The categories triage gave: $triage-stats must count them, whatever the learned layer
	// decides for a borderline message (a new rash getting worse is near the line between
	// clinical and medication).
	categories := map[string]float64{}
	for _, text := range []string{"I took 30 pills of my sleeping medicine", "burning when I pee for two days",
		"new rash on my arm, getting worse", "please send me the results of my cholesterol test"} {
		m := x.must(201, "POST", "/Communication", message(text))
		ids = append(ids, m["id"].(string))
		categories[category(m)]++
	}
	x.at(ny(t, "2026-01-17 11:00")) // Saturday: out of hours
	categories[category(x.must(201, "POST", "/Communication", message("can I get a refill of my atorvastatin")))]++
	x.must(201, "POST", "/Communication", `{"resourceType":"Communication","status":"completed","sender":{"reference":"Practitioner/dr-y"},"payload":[{"contentString":"not counted"}]}`)
	answer := func(id string) {
		x.must(201, "POST", "/Communication", `{"resourceType":"Communication","status":"completed","inResponseTo":[{"reference":"Communication/`+id+`"}],
			"sender":{"reference":"Practitioner/dr-y"},"recipient":[{"reference":"Patient/pat-1"}],"payload":[{"contentString":"ok"}]}`)
	}
	x.at(ny(t, "2026-01-14 09:10"))
	answer(ids[0]) // stat, 10 min wall: on time
	x.at(ny(t, "2026-01-14 11:00"))
	answer(ids[1]) // urgent, 2 h business: on time
	x.at(ny(t, "2026-01-20 09:00"))
	p := x.must(200, "GET", "/Communication/$triage-stats?recipient=Practitioner/dr-y&period=2026-01", "")
	got := map[string]any{}
	for _, e := range p["parameter"].([]any) {
		name := get(e, "name").(string)
		if name == "byPriority" {
			parts := map[string]any{}
			for _, pt := range get(e, "part").([]any) {
				pm := pt.(map[string]any)
				for k, v := range pm {
					if k != "name" {
						parts[pm["name"].(string)] = v
					}
				}
			}
			got[parts["priority"].(string)] = parts
			continue
		}
		if name == "byCategory" {
			got["cat:"+get(e, "part", 0, "valueCoding", "code").(string)] = get(e, "part", 1, "valueInteger")
			continue
		}
		for k, v := range e.(map[string]any) {
			if k != "name" {
				got[name] = v
			}
		}
	}
	check := func(what string, v, want any) {
		t.Helper()
		if v != want {
			t.Errorf("%s = %v, want %v", what, v, want)
		}
	}
	check("total", got["total"], 5.0)
	check("outOfHours", got["outOfHours"], 1.0)
	check("outOfHoursShare", got["outOfHoursShare"], 0.2)
	check("stat count", get(got["stat"], "count"), 1.0)
	check("stat median", get(got["stat"], "medianResponse", "value"), 10.0)
	check("urgent answered", get(got["urgent"], "answered"), 1.0)
	check("urgent median (business minutes)", get(got["urgent"], "medianResponse", "value"), 120.0)
	// Open and past due at Tuesday 20 January 09:00: only the rash (urgent, due Thursday 15
	// at 09:00). The results (routine, 27 business hours, Friday has a lunch break and Monday
	// is a holiday) are due Tuesday at 10:00.
	check("urgent overdue", get(got["urgent"], "overdue"), 1.0)
	check("routine overdue", get(got["routine"], "overdue"), 0.0)
	check("overdue", got["overdue"], 1.0)
	if categories["medication"] < 1 || categories["test-results"] != 1 {
		t.Errorf("categories given %v: want the refill as medication and the results request as test-results", categories)
	}
	for cat, n := range categories {
		check("cat:"+cat, got["cat:"+cat], n)
	}

	if st, _ := x.do("GET", "/Communication/$triage-stats?period=last-week", ""); st != 400 {
		t.Errorf("bad period: %d", st)
	}
}

func TestTwoAnswersInOneTransaction(t *testing.T) {
	x := setup(t)
	x.at(ny(t, "2026-01-14 10:00"))
	id := x.must(201, "POST", "/Communication", message("my cough is getting worse"))["id"].(string)
	ans := `{"resource":{"resourceType":"Communication","status":"completed","inResponseTo":[{"reference":"Communication/` + id + `"}],
		"sender":{"reference":"Practitioner/dr-y"},"payload":[{"contentString":"ok"}]},"request":{"method":"POST","url":"Communication"}}`
	st, o := x.do("POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[`+ans+`,`+ans+`]}`)
	if st != 409 {
		t.Errorf("two answers in a transaction: %d %v", st, o)
	}
	if m := x.must(200, "GET", "/Communication/"+id, ""); m["status"] != "in-progress" {
		t.Errorf("status %v", m["status"])
	}
	// in a batch, each answer is its own write: the first completes it, the second changes nothing
	b := x.must(200, "POST", "", `{"resourceType":"Bundle","type":"batch","entry":[`+ans+`,`+ans+`]}`)
	if get(b, "entry", 1, "response", "status") != "201 Created" {
		t.Errorf("batch: %v", b)
	}
	if m := x.must(200, "GET", "/Communication/"+id, ""); m["status"] != "completed" || get(m, "meta", "versionId") != "2" {
		t.Errorf("after the batch: %v %v", m["status"], get(m, "meta", "versionId"))
	}
}

// TestCareTeamRouting: clinical questions also reach the clinical members of the patient's
// active care teams; inactive teams and non-clinical members are left out.
func TestCareTeamRouting(t *testing.T) {
	x := setup(t)
	x.at(ny(t, "2026-01-14 10:00"))
	x.must(201, "POST", "/CareTeam", `{"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/pat-1"},
		"participant":[{"member":{"reference":"Practitioner/nurse-1"}},{"member":{"reference":"RelatedPerson/mum"}},{"member":{"reference":"PractitionerRole/diabetes-educator"}}]}`)
	x.must(201, "POST", "/CareTeam", `{"resourceType":"CareTeam","status":"inactive","subject":{"reference":"Patient/pat-1"},
		"participant":[{"member":{"reference":"Practitioner/former"}}]}`)
	m := x.must(201, "POST", "/Communication", message("my cough is getting worse since monday"))
	got := strings.Join(recipients(m), " ")
	if want := "Practitioner/dr-y Practitioner/nurse-1 PractitionerRole/diabetes-educator Practitioner/gp-1"; got != want {
		t.Errorf("recipients %s, want %s", got, want)
	}
}
