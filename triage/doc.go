// Package triage owns message triage: it classifies a patient's message (a Communication sent by a
// Patient or RelatedPerson) into a FHIR priority and a Portico message category, with the reasons
// that led there. Classify is a pure, deterministic function of the rules (package triage/rules)
// and the message; turning its Result into FHIR elements is package triage/triagefhir's job.
// It is a safety net that puts red flags first in a clinician's queue, not a diagnosis.
// See docs/triage.md.
package triage
