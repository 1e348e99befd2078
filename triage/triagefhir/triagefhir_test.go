package triagefhir

import (
	"strings"
	"testing"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/triage"
)

const comm = `{
  "resourceType": "Communication",
  "status": "in-progress",
  "priority": "routine",
  "category": [{"coding": [{"system": "http://example.org/other", "code": "x"}]}],
  "subject": {"reference": "Patient/p1"},
  "sender": {"reference": "Patient/p1"},
  "topic": {"text": "Refill"},
  "payload": [
    {"contentString": "Please refill my lisinopril."},
    {"contentString": "Also my chest has been tight since yesterday."},
    {"contentAttachment": {"contentType": "application/pdf", "title": "pharmacy note"}}
  ]
}`

func TestApply(t *testing.T) {
	v, err := fhir.ParseJSON([]byte(comm))
	if err != nil {
		t.Fatal(err)
	}
	if !ShouldTriage(&v, "") {
		t.Fatal("a Patient-sent Communication should be triaged")
	}
	msg := MessageFrom(&v)
	if msg.PatientPriorityHint != "routine" || msg.Topic != "Refill" || len(msg.AttachmentTitles) != 1 ||
		!strings.Contains(msg.Text, "chest has been tight") {
		t.Fatalf("message %+v", msg)
	}
	res := classify(t, msg)
	Apply(&v, res, "Medication refill or question")
	if _, err := fhir.ResourceFromValue(v); err != nil {
		t.Fatalf("triaged Communication does not validate: %v", err)
	}
	out := string(v.Marshal())
	for _, want := range []string{
		`"priority":"stat"`,
		`{"system":"` + CategoryCodeSystem + `","code":"medication","display":"Medication refill or question"}`,
		`"http://example.org/other"`,
		`{"url":"` + ExtPatientPriority + `","valueCode":"routine"}`,
		`{"url":"rule","valueString":"chest-pain"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	// triaging again keeps one hint, one category entry in our system, and fresh reasons
	Apply(&v, classify(t, MessageFrom(&v)), "")
	out2 := string(v.Marshal())
	if n := strings.Count(out2, ExtPatientPriority); n != 1 {
		t.Errorf("%d patient-priority extensions, want 1", n)
	}
	if n := strings.Count(out2, `"`+CategoryCodeSystem+`"`) - strings.Count(out2, `"valueCoding":{"system":"`+CategoryCodeSystem); n != 1 {
		t.Errorf("%d category entries in %s, want 1", n, CategoryCodeSystem)
	}
	if strings.Count(out2, ExtReason) != strings.Count(out, ExtReason) {
		t.Error("reasons should be replaced, not appended")
	}
}

func TestShouldTriage(t *testing.T) {
	for body, want := range map[string]bool{
		`{"resourceType":"Communication","sender":{"reference":"RelatedPerson/r1"}}`:                    true,
		`{"resourceType":"Communication","sender":{"reference":"Practitioner/d1"}}`:                     false,
		`{"resourceType":"Communication","sender":{"type":"Patient","display":"Ana"}}`:                  true,
		`{"resourceType":"Communication"}`:                                                              false,
		`{"resourceType":"Observation","sender":{"reference":"Patient/p1"}}`:                            false,
		`{"resourceType":"Communication","sender":{"reference":"Patient/p1/_history/2"}}`:               true,
		`{"resourceType":"Communication","sender":{"reference":"https://x.org/fhir/Patient/9"}}`:        true,
		`{"resourceType":"Communication","sender":{"reference":"https://portico.test/fhir/Patient/9"}}`: true,
		// A crafted reference is not read as one type by the index and as another here.
		`{"resourceType":"Communication","sender":{"reference":"https://portico.test/fhir/Patient/A|/Practitioner/X"}}`: false,
		`{"resourceType":"Communication","sender":{"reference":"Practitioner/X|/Patient/A"}}`:                           false,
	} {
		v, err := fhir.ParseJSON([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if got := ShouldTriage(&v, "https://portico.test/fhir"); got != want {
			t.Errorf("%s: got %v, want %v", body, got, want)
		}
	}
}

func TestCategoryCodes(t *testing.T) {
	for _, c := range triage.Categories {
		cc := Category(triage.Result{Category: c.Code}, c.Display)
		if !strings.Contains(string(cc.Marshal()), `"code":"`+c.Code+`"`) {
			t.Errorf("category %s not written", c.Code)
		}
	}
}

func classify(t *testing.T, m triage.Message) triage.Result {
	t.Helper()
	e, err := triage.Default()
	if err != nil {
		t.Fatal(err)
	}
	return e.Classify(m)
}
