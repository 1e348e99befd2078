package triage

import "strings"

// Priority is a FHIR request-priority, ordered Routine < Urgent < ASAP < Stat.
type Priority int

// The priorities.
const (
	Routine Priority = iota
	Urgent
	ASAP
	Stat
)

var priorityCodes = [...]string{"routine", "urgent", "asap", "stat"}

// String is the FHIR code.
func (p Priority) String() string {
	if p >= Routine && p <= Stat {
		return priorityCodes[p]
	}
	return "routine"
}

// ParsePriority reads a FHIR request-priority code (routine, urgent, asap, stat).
func ParsePriority(code string) (Priority, bool) {
	for i, c := range priorityCodes {
		if strings.EqualFold(strings.TrimSpace(code), c) {
			return Priority(i), true
		}
	}
	return Routine, false
}

// Category is one message category.
type Category struct {
	Code, Display string
}

// Categories are Portico's message categories, in the order of docs/triage-guideline.md.
var Categories = []Category{
	{"medication", "Medication refill or question"},
	{"appointment", "Appointment"},
	{"test-results", "Test results"},
	{"billing", "Billing and insurance"},
	{"administrative", "Forms, letters and records"},
	{"clinical", "Symptoms or health question"},
	{"other", "Other"},
}

// CategoryDisplay is the display of a category code ("" when unknown).
func CategoryDisplay(code string) string {
	for _, c := range Categories {
		if c.Code == code {
			return c.Display
		}
	}
	return ""
}

// Message is what triage reads from a Communication.
type Message struct {
	Text             string   // payload.contentString, all of them joined by new lines
	Topic            string   // topic.text or its codings' display
	ReasonCodes      []string // reasonCode text or codings' display
	AttachmentTitles []string // payload.contentAttachment.title
	// PatientPriorityHint is the priority the sender asked for ("" when none). It never lowers
	// the result and raises it at most to asap.
	PatientPriorityHint string
	Language            string // optional BCP-47 hint (Communication.language)
	// Screening are the answers of Portico's red-flag screening Questionnaire, when a
	// QuestionnaireResponse came with the message: item linkId -> yes.
	Screening map[string]bool
}

// Field names used in Reason.Field: the codes of the CodeSystem triage-reason-field
// (definitions/package), which a test keeps equal to ReasonFields.
const (
	FieldText       = "text"
	FieldTopic      = "topic"
	FieldReasonCode = "reasonCode"
	FieldAttachment = "attachment"
	FieldHint       = "patientPriority"
	FieldScreening  = "screening"
)

// ReasonFields are the Field names.
var ReasonFields = []string{FieldText, FieldTopic, FieldReasonCode, FieldAttachment, FieldHint, FieldScreening}

// Kind names used in Reason.Kind: the codes of the CodeSystem triage-reason-kind
// (definitions/package), which a test keeps equal to ReasonKinds.
const (
	KindProtocol  = "protocol"
	KindScreening = "screening"
	KindFinding   = "finding"
	KindModel     = "model"
	KindLanguage  = "language"
	KindHint      = "hint"
)

// ReasonKinds are the Kind names.
var ReasonKinds = []string{KindProtocol, KindScreening, KindFinding, KindModel, KindLanguage, KindHint}

// Result is the classification of one message.
type Result struct {
	Priority Priority
	Category string
	// Language is the identified language (ISO 639-1, or "und"); Served whether Portico has a
	// lexicon for it and was sure of it.
	Language string
	Served   bool
	// Interpreter: the message is in a language Portico cannot triage, or it could not tell:
	// a person who reads it is needed.
	Interpreter bool
	// Review: the layers disagree, or the model sees a likely emergency the floor did not: a
	// person should look within the hour (ReviewWhy says why).
	Review    bool
	ReviewWhy string
	// Floor is what the red-flag protocols (and screening answers) decided; Model the
	// priority the learned layer's probabilities point to, with those probabilities.
	Floor, Model Priority
	Probs        [4]float64
	Reasons      []Reason
}

// Reason is one thing that led to the result (or was set aside).
type Reason struct {
	Rule     string   // protocol id, "model", "language", "patient-hint", a screening item, or a concept
	Kind     string   // KindProtocol, KindModel, ...
	Matched  string   // the words of the message, as written
	Field    string   // FieldText, FieldTopic, ...
	Priority Priority // the priority it supports (Routine when none)
	Category string   // the category it supports ("" when none)
	// Negated is set when a cue ("no", "history of", "what if", "my father had") set a finding
	// aside; Cue names it.
	Negated bool
	Cue     string
}
