package triage

import "github.com/portico-health/portico/triage/rules"

// Priority is a FHIR request-priority, ordered Routine < Urgent < ASAP < Stat.
type Priority = rules.Priority

// The priorities.
const (
	Routine = rules.Routine
	Urgent  = rules.Urgent
	ASAP    = rules.ASAP
	Stat    = rules.Stat
)

// ParsePriority reads a FHIR request-priority code (routine, urgent, asap, stat).
func ParsePriority(code string) (Priority, bool) { return rules.ParsePriority(code) }

// Message is what triage reads from a Communication.
type Message struct {
	Text             string   // payload.contentString, all of them joined by new lines
	Topic            string   // topic.text or its codings' display
	ReasonCodes      []string // reasonCode text or codings' display
	AttachmentTitles []string // payload.contentAttachment.title
	// PatientPriorityHint is the priority the sender asked for ("" when none). It never lowers
	// the rules' result and raises it at most to the rule file's patient_hint_cap.
	PatientPriorityHint string
	Language            string // optional BCP-47 hint ("en", "es"); detected when empty
}

// Field names used in Reason.Field.
const (
	FieldText       = "text"
	FieldTopic      = "topic"
	FieldReasonCode = "reasonCode"
	FieldAttachment = "attachment"
	FieldHint       = "patientPriority"
)

// Result is the classification of one message.
type Result struct {
	Priority Priority
	Category string
	Language string // detected (or hinted) language
	Reasons  []Reason
}

// Reason is one rule that fired (or was considered and set aside because it was negated).
type Reason struct {
	Rule     string   // rule id from the rule file ("chest-pain", "refill-request", "patient-hint")
	Kind     string   // priority, escalator, combo, measure, pattern, category, hint
	Matched  string   // the words of the message, as written
	Field    string   // which part of the message: text, topic, reasonCode, attachment
	Priority Priority // the priority it supports (Routine when none)
	Category string   // the category it supports ("" when none)
	// Negated is set when a negation or context cue ("no", "history of") set the phrase aside;
	// Cue names it. A negated reason supports Priority only when the rule keeps one for safety.
	Negated bool
	Cue     string
}
