package triage

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		msg      Message
		priority Priority
		category string
		rule     string // a reason that must be present and not negated ("" to skip)
	}{
		{"chest pain", Message{Text: "I have chest pain"}, Stat, "clinical", "chest-pain"},
		{"negated chest pain", Message{Text: "no chest pain since the new meds"}, Routine, "clinical", ""},
		{"negation ends at but", Message{Text: "No fever but my chest hurts"}, Stat, "clinical", "chest-pain"},
		{"negation ends at sentence", Message{Text: "No fever. Chest pain since 2 hours."}, Stat, "clinical", "chest-pain"},
		{"interjection no is not a negation", Message{Text: "No, I have chest pain right now"}, Stat, "clinical", "chest-pain"},
		{"pseudo-negation", Message{Text: "not sure if it's heartburn or chest pain"}, Stat, "clinical", "chest-pain"},
		{"misspelled", Message{Text: "chest pian and cant breath"}, Stat, "clinical", "breathing"},
		{"can't breathe is not a negation", Message{Text: "I can't breathe"}, Stat, "clinical", "breathing"},
		{"can't breathe under a stray negation", Message{Text: "no fever, I can't breathe"}, Stat, "clinical", "breathing"},
		{"suicide not negatable", Message{Text: "I'm not going to do anything but I keep thinking about killing myself"}, Stat, "clinical", "suicide"},
		{"denied suicidality still reviewed", Message{Text: "not suicidal, just sad"}, Urgent, "clinical", ""},
		{"historical", Message{Text: "my father died of a heart attack, I want a cholesterol test"}, Routine, "test-results", ""},
		{"historical post", Message{Text: "I had chest pain years ago, can I run a marathon?"}, Routine, "clinical", ""},
		{"hypothetical", Message{Text: "What are the warning signs of a stroke?"}, Routine, "clinical", ""},
		{"refill with red flag", Message{Text: "refill my lisinopril and also my chest has been tight since yesterday"}, Stat, "medication", "chest-pain"},
		{"refill no red flag", Message{Text: "no chest pain, just a refill"}, Routine, "medication", "refill-request"},
		{"spanish chest pain", Message{Text: "tengo dolor de pecho"}, Stat, "clinical", "es-chest-pain"},
		{"spanish negated", Message{Text: "no tengo dolor de pecho, solo necesito mi receta"}, Routine, "medication", ""},
		{"spanish no puedo respirar", Message{Text: "no puedo respirar"}, Stat, "clinical", "es-breathing"},
		{"spanish misspelled", Message{Text: "dolor de pexo"}, Stat, "clinical", "es-chest-pain"},
		{"high fever C", Message{Text: "fever 39.6 since last night"}, ASAP, "clinical", "temperature"},
		{"high fever F", Message{Text: "temp 103.2"}, ASAP, "clinical", "temperature"},
		{"fever", Message{Text: "I have a fever"}, Urgent, "clinical", "fever"},
		{"worse", Message{Text: "my cough is getting worse"}, Urgent, "clinical", "worsening"},
		{"worse without a symptom", Message{Text: "the parking is getting worse"}, Routine, "other", ""},
		{"critical medication out", Message{Text: "I ran out of my insulin"}, ASAP, "medication", "critical-medication-out"},
		{"seizure medicine is not a seizure", Message{Text: "please refill my seizure medicine, 2 weeks left"}, Routine, "medication", "refill-request"},
		{"blood pressure is not bleeding", Message{Text: "my blood pressure was 128/82"}, Routine, "other", ""},
		{"blood pressure crisis", Message{Text: "my blood pressure is 192/121"}, ASAP, "clinical", "blood-pressure-crisis"},
		{"topic", Message{Text: "see attached", Topic: "Medication refill"}, Routine, "medication", "refill-request"},
		{"attachment title", Message{Text: "here it is", AttachmentTitles: []string{"FMLA form.pdf"}}, Routine, "administrative", "paperwork-request"},
		{"reason code", Message{Text: "help", ReasonCodes: []string{"Shortness of breath"}}, Stat, "clinical", "breathing-trouble"},
		{"hint raises", Message{Text: "question about my bill", PatientPriorityHint: "urgent"}, Urgent, "billing", "patient-hint"},
		{"hint capped", Message{Text: "question about my bill", PatientPriorityHint: "stat"}, ASAP, "billing", "patient-hint"},
		{"hint never lowers", Message{Text: "I have chest pain", PatientPriorityHint: "routine"}, Stat, "clinical", "chest-pain"},
		{"empty", Message{}, Routine, "other", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(nil, tt.msg)
			if got.Priority != tt.priority || got.Category != tt.category {
				t.Errorf("got %s/%s, want %s/%s\n%s", got.Priority, got.Category, tt.priority, tt.category, explain(got))
			}
			if tt.rule == "" {
				return
			}
			for _, r := range got.Reasons {
				if r.Rule == tt.rule && !r.Negated {
					return
				}
			}
			t.Errorf("no reason %q in %s", tt.rule, explain(got))
		})
	}
}

func TestReasonsShowNegation(t *testing.T) {
	got := Classify(nil, Message{Text: "no chest pain since the new meds"})
	for _, r := range got.Reasons {
		if r.Rule == "chest-pain" {
			if !r.Negated || r.Cue != "no" || r.Matched != "chest pain" {
				t.Errorf("reason %+v, want negated by \"no\" on \"chest pain\"", r)
			}
			return
		}
	}
	t.Errorf("no chest-pain reason in %s", explain(got))
}

func TestLanguage(t *testing.T) {
	for text, want := range map[string]string{
		"I have a question about my bill":     "en",
		"tengo una pregunta sobre mi factura": "es",
		"":                                    "en",
	} {
		if got := Classify(nil, Message{Text: text}).Language; got != want {
			t.Errorf("%q: language %s, want %s", text, got, want)
		}
	}
	if got := Classify(nil, Message{Text: "hola", Language: "es-MX"}).Language; got != "es" {
		t.Errorf("hinted language %s, want es", got)
	}
}

func TestDeterministic(t *testing.T) {
	m := Message{Text: "Refill my metformin. Also fever 101 and my cough is worse, no chest pain", Topic: "refill"}
	a := explain(Classify(nil, m))
	for range 20 {
		if b := explain(Classify(nil, m)); b != a {
			t.Fatalf("not deterministic:\n%s\n%s", a, b)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	msgs := loadLabelled(b)
	var total int
	for _, m := range msgs {
		total += len(m.Text)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l := msgs[i%len(msgs)]
		Classify(nil, Message{Text: l.Text})
	}
	_ = total
}

func BenchmarkClassifyLong(b *testing.B) {
	text := strings.Repeat("I need a refill of my lisinopril, the pharmacy is closed, and I have had a cough for a week but no fever. ", 20)
	b.ReportAllocs()
	for b.Loop() {
		Classify(nil, Message{Text: text})
	}
}
