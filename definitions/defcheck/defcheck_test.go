package defcheck

import (
	"strings"
	"testing"
)

// The urls of definitions that do not exist are built from the bases, so that the repository's
// check of its urls (TestRepositoryUsesOneBase) does not read them as mistakes.
const (
	base   = "http://portico.health/fhir"
	legacy = "https://portico.health/fhir"
	sd     = base + "/StructureDefinition/"
)

// TestProblems: each rule reports what breaks it, and a resource that keeps them all has none.
func TestProblems(t *testing.T) {
	good := `{"resourceType":"Communication","status":"in-progress",
		"meta":{"tag":[{"system":"http://portico.health/fhir/CodeSystem/triage-flag","code":"review","display":"Review by a person: unsure"}]},
		"extension":[
			{"url":"` + sd + `triage-due","valueDateTime":"2026-01-15T10:00:00-05:00"},
			{"url":"` + sd + `triage-auto-reply-kind","valueCode":"after_hours"},
			{"url":"` + sd + `triage-reason","extension":[{"url":"rule","valueString":"chest-pain"},{"url":"kind","valueCode":"protocol"},
				{"url":"field","valueCode":"text"},{"url":"priority","valueCode":"stat"},
				{"url":"category","valueCoding":{"system":"http://portico.health/fhir/CodeSystem/message-category","code":"clinical"}}]},
			{"url":"http://example.org/ext","valueString":"not Portico's"}],
		"category":[{"coding":[{"system":"http://portico.health/fhir/CodeSystem/message-category","code":"medication","display":"Medication refill or question"}]}],
		"recipient":[{"reference":"Group/g","extension":[{"url":"` + sd + `triage-routed","valueString":"refills"}]}],
		"contained":[{"resourceType":"QuestionnaireResponse","id":"qr","status":"completed","questionnaire":"http://portico.health/fhir/Questionnaire/portico-red-flags|1"}]}`
	c := New()
	if p := c.Problems([]byte(good)); len(p) > 0 {
		t.Fatalf("a conforming resource: %v", p)
	}
	if c.Used[sd+"triage-reason"] != 1 || c.Used[sd+"triage-reason#kind"] != 1 || c.Used["http://portico.health/fhir/CodeSystem/message-category"] != 2 {
		t.Errorf("Used: %v", c.Used)
	}

	for _, tt := range []struct{ name, resource, want string }{
		{"undefined extension", `{"resourceType":"Communication","extension":[{"url":"` + sd + `triage-mood","valueString":"x"}]}`,
			"no StructureDefinition"},
		{"legacy base", `{"resourceType":"Communication","extension":[{"url":"` + legacy + `/StructureDefinition/triage-due","valueDateTime":"2026-01-15"}]}`,
			"legacy https base"},
		{"context", `{"resourceType":"Patient","extension":[{"url":"` + sd + `triage-due","valueDateTime":"2026-01-15"}]}`,
			"not allowed here"},
		{"element context", `{"resourceType":"Communication","extension":[{"url":"` + sd + `triage-routed","valueString":"x"}]}`,
			"not allowed here"},
		{"value type", `{"resourceType":"Communication","extension":[{"url":"` + sd + `triage-due","valueDate":"2026-01-15"}]}`,
			"has a date value; its definition allows dateTime"},
		{"twice", `{"resourceType":"Communication","extension":[{"url":"` + sd + `triage-due","valueDateTime":"2026-01-15"},{"url":"` + sd + `triage-due","valueDateTime":"2026-01-16"}]}`,
			"appears 2 times; at most 1"},
		{"bound code", `{"resourceType":"Communication","extension":[{"url":"` + sd + `triage-auto-reply-kind","valueCode":"weekend"}]}`,
			`code "weekend" is not in http://portico.health/fhir/ValueSet/triage-auto-reply`},
		{"R4 binding", `{"resourceType":"Communication","extension":[{"url":"` + sd + `triage-patient-priority","valueCode":"now"}]}`,
			`code "now" is not in http://hl7.org/fhir/ValueSet/request-priority`},
		{"missing sub-extension", `{"resourceType":"Communication","extension":[{"url":"` + sd + `triage-reason","extension":[{"url":"rule","valueString":"x"},{"url":"kind","valueCode":"model"}]}]}`,
			`lacks its sub-extension "field"`},
		{"unknown sub-extension", `{"resourceType":"Communication","extension":[{"url":"` + sd + `triage-reason","extension":[{"url":"rule","valueString":"x"},{"url":"kind","valueCode":"model"},{"url":"field","valueCode":"text"},{"url":"score","valueDecimal":0.5}]}]}`,
			`sub-extension "score" its definition does not define`},
		{"complex with a value", `{"resourceType":"Communication","extension":[{"url":"` + sd + `triage-response","valueBoolean":true}]}`,
			"is complex"},
		{"code", `{"resourceType":"Communication","category":[{"coding":[{"system":"http://portico.health/fhir/CodeSystem/message-category","code":"gossip"}]}]}`,
			`code "gossip" is not in`},
		{"display", `{"resourceType":"Communication","category":[{"coding":[{"system":"http://portico.health/fhir/CodeSystem/message-category","code":"billing","display":"Money"}]}]}`,
			`display "Money"`},
		{"undefined code system", `{"resourceType":"Communication","meta":{"tag":[{"system":"` + base + `/CodeSystem/tags","code":"x"}]}}`,
			"no CodeSystem"},
		{"canonical", `{"resourceType":"QuestionnaireResponse","questionnaire":"` + base + `/Questionnaire/intake"}`,
			"names no definition"},
		{"legacy canonical", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"QuestionnaireResponse","questionnaire":"` + legacy + `/Questionnaire/portico-red-flags"}}]}`,
			"legacy https base"},
	} {
		p := New().Problems([]byte(tt.resource))
		if len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, p, tt.want)
		}
	}
}

// TestParameters: an answer of $triage-stats is held to its OperationDefinition.
func TestParameters(t *testing.T) {
	const op = "http://portico.health/fhir/OperationDefinition/Communication-triage-stats"
	prio := func(code, clock string) string {
		return `{"name":"byPriority","part":[{"name":"priority","valueCode":"` + code + `"},{"name":"count","valueInteger":1},
			{"name":"answered","valueInteger":0},{"name":"answeredOnTime","valueInteger":0},{"name":"overdue","valueInteger":0},
			{"name":"target","valueDuration":{"value":15,"unit":"min","system":"http://unitsofmeasure.org","code":"min"}},
			{"name":"targetClock","valueCode":"` + clock + `"}]}`
	}
	answer := func(byPriority, tail string) []byte {
		return []byte(`{"resourceType":"Parameters","parameter":[{"name":"period","valuePeriod":{"start":"2026-01-01T00:00:00-05:00","end":"2026-02-01T00:00:00-05:00"}},
			{"name":"total","valueInteger":4},` + byPriority + `,
			{"name":"byCategory","part":[{"name":"category","valueCoding":{"system":"http://portico.health/fhir/CodeSystem/message-category","code":"clinical"}},{"name":"count","valueInteger":4}]},
			{"name":"overdue","valueInteger":0},{"name":"outOfHours","valueInteger":1}` + tail + `]}`)
	}
	four := prio("stat", "wall") + "," + prio("asap", "business") + "," + prio("urgent", "business") + "," + prio("routine", "business")
	if p := New().Parameters(op, answer(four, `,{"name":"outOfHoursShare","valueDecimal":0.25}`)); len(p) > 0 {
		t.Fatalf("a conforming answer: %v", p)
	}
	for _, tt := range []struct{ name, byPriority, tail, want string }{
		{"missing parameter", four, "", `"outOfHoursShare" appears 0 times`},
		{"type", four, `,{"name":"outOfHoursShare","valueInteger":0}`, "a integer value; the definition says decimal"},
		{"undefined", four, `,{"name":"outOfHoursShare","valueDecimal":0.25},{"name":"mood","valueString":"calm"}`, `"mood" is not defined`},
		{"bound part", prio("stat", "lunar") + "," + prio("asap", "business") + "," + prio("urgent", "business") + "," + prio("routine", "business"),
			`,{"name":"outOfHoursShare","valueDecimal":0.25}`, `code "lunar" is not in`},
		{"cardinality", prio("stat", "wall"), `,{"name":"outOfHoursShare","valueDecimal":0.25}`, `"byPriority" appears 1 times; the definition says 4..4`},
	} {
		p := New().Parameters(op, answer(tt.byPriority, tt.tail))
		if !strings.Contains(strings.Join(p, "\n"), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, p, tt.want)
		}
	}
	if p := New().Parameters(base+"/OperationDefinition/nothing", nil); len(p) != 1 {
		t.Errorf("an undefined operation: %v", p)
	}
}
