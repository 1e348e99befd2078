// Command fhirgen generates the FHIR R4 model of Portico from the official R4 4.0.1 definitions:
// the Go types of package fhir/r4 and the definition, value-set, search-parameter and
// compartment tables of package fhir. Run it with `go generate ./fhir/...`.
//
// Usage:
//
//	fhirgen -defs ../../shared/fhir-r4 -out .
//
// writes the tables into -out and the types into -out/r4. The output depends only on the input
// files: every list is sorted, so regenerating unchanged definitions changes nothing.
package main
