// Package conformance owns what Portico claims about itself and the means to check such claims
// against any server: the CapabilityStatement served at [base]/metadata, built from a
// Description of what is really served, and a black-box HTTP suite (Run) that exercises a FHIR
// R4 base URL — capabilities, CRUD and history, conditional interactions, versioning, JSON
// Patch, errors, content fidelity and formats — following the RESTful API of
// http://hl7.org/fhir/R4/http.html. The suite speaks HTTP only and shares no code with the
// server, so that it judges Portico as it would any other server; `portico conformance` runs
// it from the command line.
package conformance
