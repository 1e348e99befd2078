// Package fhir owns the FHIR R4 model: the generated Go types and definition tables (from the
// official R4 definitions, by internal/fhirgen), the order- and precision-preserving JSON tree
// that stored resources are kept in, strict parsing and validation with FHIRPath-located issues,
// and OperationOutcome building.
//
// The tables: LookupType and LookupElement give the element definitions of every R4 type
// (cardinality, types and choice suffixes, targets, required bindings, isSummary);
// ResourceTypes lists the resource types; LookupValueSet the code sets of required bindings;
// SearchParams and LookupSearchParam the R4 search parameters; PatientCompartment and
// PatientCompartmentParams the Patient compartment.
//
// Validate checks a resource against its definition: member names, JSON types, cardinality
// (arrays, minimums), no empty or null values except null alignment in the "_name" arrays of
// primitive extensions, one type per choice element, the lexical form of every primitive (with
// calendar dates and 32-bit integers), codes of enumerable required bindings, reference target
// types, local "#id" references, the extension invariant ext-1 and the contained-resource
// invariants dom-2 and dom-4. Problems that keep content from being read as a resource are
// issues of code "structure" (HTTP 400); broken rules of readable content are "required",
// "value", "code-invalid" or "invariant" (HTTP 422).
//
// Not checked: the other FHIRPath invariants of the definitions (constraint expressions such
// as "obs-6: dataAbsentReason SHALL only be present if value[x] is not present"), which need a
// FHIRPath engine; bindings to value sets that cannot be listed (BCP-47 languages, MIME types,
// UCUM units, ISO 4217 currencies); profiles named in meta.profile; the XHTML content of the
// narrative beyond its outer <div>.
package fhir
