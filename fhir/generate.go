package fhir

// The R4 model (package r4 and the *_gen.go tables here) is generated from the official
// definitions, which sit beside the repository in ../shared/fhir-r4; the server does not need
// them at run time.
//go:generate go run ./internal/fhirgen -defs ../../shared/fhir-r4 -out .
