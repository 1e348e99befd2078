// Package triagefhir owns the FHIR side of message triage: reading a triage.Message from a
// Communication, and writing a triage.Result back onto it as Communication.priority, a
// Communication.category entry in the Portico message-category CodeSystem, and documented
// extensions (the patient's own priority, the reasons). It works on the fhir.Value JSON tree and
// keeps the classifier itself free of FHIR. See docs/triage.md.
package triagefhir
