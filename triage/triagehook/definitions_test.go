package triagehook

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/portico-health/portico/definitions"
	"github.com/portico-health/portico/definitions/defcheck"
	"github.com/portico-health/portico/triage"
	"github.com/portico-health/portico/triage/evaluation"
	"github.com/portico-health/portico/triage/triagefhir"
)

// The agreement of triage's code with the definitions Portico publishes (definitions/package):
// the canonicals the code names are defined, the codes it may write are those of the
// CodeSystems, and what it writes over HTTP conforms to the StructureDefinitions and the
// $triage-stats OperationDefinition. A change on either side alone fails here.

const screeningFile = "../../definitions/package/Questionnaire-portico-red-flags.json"

// TestScreeningDefinition: the package's screening Questionnaire is what ScreeningQuestionnaire
// builds from triage/screening.json. PORTICO_UPDATE_DEFINITIONS=1 rewrites it (then run the
// definitions tests again: the package's index lists it).
func TestScreeningDefinition(t *testing.T) {
	want := ScreeningQuestionnaire()
	got, err := os.ReadFile(screeningFile)
	if os.Getenv("PORTICO_UPDATE_DEFINITIONS") == "1" {
		if !bytes.Equal(got, want) {
			if err := os.WriteFile(screeningFile, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is not what ScreeningQuestionnaire builds (%v): run PORTICO_UPDATE_DEFINITIONS=1 go test ./triage/triagehook -run TestScreeningDefinition", screeningFile, err)
	}
	if r, ok := definitions.Lookup(ScreeningURL); !ok || r.Type != "Questionnaire" || r.ID != ScreeningID {
		t.Errorf("the package has no Questionnaire at %s: %+v", ScreeningURL, r)
	}
	for _, c := range []string{ScreeningURL, ScreeningURL + "|1", definitions.LegacyBase + "/Questionnaire/portico-red-flags", "Questionnaire/" + ScreeningID} {
		if !isScreening(c) {
			t.Errorf("isScreening(%q) = false", c)
		}
	}
	if isScreening("http://example.org/Questionnaire/portico-red-flags") {
		t.Error("another server's Questionnaire counted as the screening")
	}
}

// concepts reads the codes and displays of a CodeSystem of the package, in order.
func concepts(t *testing.T, url string) (codes, displays []string) {
	t.Helper()
	r, ok := definitions.Lookup(url)
	if !ok || r.Type != "CodeSystem" {
		t.Fatalf("no CodeSystem %s in the package", url)
	}
	var cs struct {
		Concept []struct{ Code, Display string }
	}
	if err := json.Unmarshal(r.JSON, &cs); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Concept {
		codes = append(codes, c.Code)
		displays = append(displays, c.Display)
	}
	return codes, displays
}

// TestCodeAndDefinitionsAgree: every canonical the code names is defined, with the right type,
// and every code list of the code is the CodeSystem's.
func TestCodeAndDefinitionsAgree(t *testing.T) {
	for url, typ := range map[string]string{
		triagefhir.ExtPatientPriority: "StructureDefinition", triagefhir.ExtReason: "StructureDefinition",
		triagefhir.ExtLanguage: "StructureDefinition", ExtDue: "StructureDefinition", ExtOutOfHours: "StructureDefinition",
		ExtRouted: "StructureDefinition", ExtAutoReply: "StructureDefinition", ExtAutoReplyKind: "StructureDefinition",
		ExtResponse:                   "StructureDefinition",
		triagefhir.CategoryCodeSystem: "CodeSystem", triagefhir.FlagSystem: "CodeSystem", AutoReplySystem: "CodeSystem",
		StatsDefinition: "OperationDefinition", ScreeningURL: "Questionnaire",
	} {
		if r, ok := definitions.Lookup(url); !ok || r.Type != typ {
			t.Errorf("%s: no %s in the package", url, typ)
		}
	}
	var op struct{ Code string }
	r, _ := definitions.Lookup(StatsDefinition)
	if json.Unmarshal(r.JSON, &op); op.Code != StatsOperation || !strings.HasSuffix(StatsPath, "/$"+op.Code) {
		t.Errorf("the OperationDefinition's code is %q; the operation is %s at %s", op.Code, StatsOperation, StatsPath)
	}

	var catCodes, catDisplays []string
	for _, c := range triage.Categories {
		catCodes, catDisplays = append(catCodes, c.Code), append(catDisplays, c.Display)
	}
	for _, tt := range []struct {
		system   string
		codes    []string
		displays []string // nil: not compared
	}{
		{triagefhir.CategoryCodeSystem, catCodes, catDisplays},
		{AutoReplySystem, replyKinds, nil},
		{definitions.Base + "/CodeSystem/triage-reason-kind", triage.ReasonKinds, nil},
		{definitions.Base + "/CodeSystem/triage-reason-field", triage.ReasonFields, nil},
		{definitions.Base + "/CodeSystem/triage-target-clock", []string{ClockBusiness, ClockWall}, nil},
	} {
		codes, displays := concepts(t, tt.system)
		if !slices.Equal(slices.Sorted(slices.Values(codes)), slices.Sorted(slices.Values(tt.codes))) {
			t.Errorf("%s: the CodeSystem has %v, the code %v", tt.system, codes, tt.codes)
		}
		if tt.displays != nil && (!slices.Equal(codes, tt.codes) || !slices.Equal(displays, tt.displays)) {
			t.Errorf("%s: the CodeSystem's displays %v, the code's %v", tt.system, displays, tt.displays)
		}
	}
}

// TestWrittenResourcesConform drives the hook over HTTP through everything it writes (the
// shipped engine: every kind of reason; routing, on-call, the four automatic replies, out of
// hours, an answer, the screening answers, a patient's own priority, both flags) and checks
// every stored Communication against the definitions, then that every extension and code
// system of the package was used (a definition no code writes any more fails too), and the
// $triage-stats answer against its OperationDefinition.
func TestWrittenResourcesConform(t *testing.T) {
	var file map[string]any
	data, _ := os.ReadFile("testdata/clinic.json")
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	file["replies"].(map[string]any)[ReplyReceived] = map[string]any{"en": "We received your message; it will be answered by {due}."}
	data, _ = json.Marshal(file)
	cfg, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	engine := newEngine(t)
	x := newEnv(t, engine, cfg)
	x.must(201, "PUT", "/Patient/pat-1", `{"resourceType":"Patient","id":"pat-1","generalPractitioner":[{"reference":"Practitioner/gp-1"}]}`)

	// One message for each kind of reason, from the development corpus, in opening hours.
	rows, err := evaluation.Load("../../testdata/triage/corpus/dev.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	need := map[string]bool{}
	for _, k := range triage.ReasonKinds {
		need[k] = k != triage.KindHint && k != triage.KindScreening // sent below
	}
	need["review"], need["interpreter"] = true, true
	x.at(ny(t, "2026-01-14 10:00"))
	for _, r := range rows {
		res := engine.Classify(triage.Message{Text: r.Text})
		found := []string{}
		for _, rs := range res.Reasons {
			found = append(found, rs.Kind)
		}
		if res.Review {
			found = append(found, "review")
		}
		if res.Interpreter {
			found = append(found, "interpreter")
		}
		if !slices.ContainsFunc(found, func(k string) bool { return need[k] }) {
			continue
		}
		for _, k := range found {
			need[k] = false
		}
		x.must(201, "POST", "/Communication", message(r.Text))
	}
	for k, missing := range need {
		if missing {
			t.Errorf("no development message gives a %s reason or flag", k)
		}
	}
	// The patient's own priority, and a yes to a screening question.
	x.must(201, "POST", "/Communication", `{"resourceType":"Communication","status":"completed","priority":"asap",
		"sender":{"reference":"Patient/pat-1"},"payload":[{"contentString":"please refill my lisinopril"}]}`)
	x.must(201, "POST", "/Communication", `{"resourceType":"Communication","status":"completed",
		"contained":[{"resourceType":"QuestionnaireResponse","id":"qr","questionnaire":"`+ScreeningURL+`","status":"completed",
			"item":[{"linkId":"today","answer":[{"valueBoolean":true}]}]}],
		"sender":{"reference":"Patient/pat-1"},"payload":[{"contentString":"question about my rash"},{"contentReference":{"reference":"#qr"}}]}`)
	// Out of hours (Saturday), then an answer to it.
	x.at(ny(t, "2026-01-17 11:00"))
	id := x.must(201, "POST", "/Communication", message("can I get a refill of my atorvastatin"))["id"].(string)
	x.at(ny(t, "2026-01-20 09:00"))
	x.must(201, "POST", "/Communication", `{"resourceType":"Communication","status":"completed","inResponseTo":[{"reference":"Communication/`+id+`"}],
		"sender":{"reference":"Practitioner/dr-y"},"recipient":[{"reference":"Patient/pat-1"}],"payload":[{"contentString":"sent to your pharmacy"}]}`)

	check := defcheck.New()
	b := x.must(200, "GET", "/Communication?_count=500", "")
	entries, _ := b["entry"].([]any)
	for _, e := range entries {
		res, _ := json.Marshal(get(e, "resource"))
		for _, p := range check.Problems(res) {
			t.Errorf("Communication/%v: %s", get(e, "resource", "id"), p)
		}
	}
	replies := map[string]bool{}
	for _, e := range entries {
		if k, _ := get(ext(get(e, "resource").(map[string]any), ExtAutoReplyKind), "valueCode").(string); k != "" {
			replies[k] = true
		}
	}
	for _, k := range replyKinds {
		if !replies[k] {
			t.Errorf("no %s automatic reply was written", k)
		}
	}
	for _, r := range definitions.All() {
		if r.Type == "StructureDefinition" || r.Type == "CodeSystem" && r.ID != "triage-reason-kind" &&
			r.ID != "triage-reason-field" && r.ID != "triage-target-clock" { // those three are codes, not Codings
			if check.Used[r.URL] == 0 {
				t.Errorf("nothing written uses %s: does the code still write it?", r.URL)
			}
		}
	}

	p := x.must(200, "GET", "/Communication/$triage-stats?recipient=Practitioner/dr-y&period=2026-01", "")
	body, _ := json.Marshal(p)
	for _, problem := range check.Parameters(StatsDefinition, body) {
		t.Errorf("$triage-stats: %s", problem)
	}
}

func newEngine(t *testing.T) *triage.Engine {
	t.Helper()
	e, err := triage.Default()
	if err != nil {
		t.Fatal(err)
	}
	return e
}
