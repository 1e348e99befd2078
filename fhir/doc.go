// Package fhir owns the FHIR R4 model: the generated Go types and definition tables (from the
// official R4 definitions, by internal/fhirgen), the order- and precision-preserving JSON tree
// that stored resources are kept in, strict parsing and validation with FHIRPath-located issues,
// and OperationOutcome building.
package fhir
