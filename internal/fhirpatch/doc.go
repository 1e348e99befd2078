// Package fhirpatch owns FHIRPath Patch (R4 fhirpatch.html) on the fhir.Value tree: a
// Parameters resource whose "operation" parameters add, insert, delete, replace and move the
// elements a FHIRPath expression finds. Like internal/jsonpatch it works on the JSON tree, so a
// patched resource keeps its member order and number literals.
//
// Paths are a restricted but exact FHIRPath subset: element names (a leading resource type
// name is allowed; a choice element by its name, "Observation.value", or its JSON name,
// "valueQuantity"), indexers [n], first(), last(), and where(...) whose criterion is one or
// more comparisons "operand = literal" joined by "and", an operand being $this or a path of
// element names from the item, a literal a string, a number or true/false. Anything else
// (resolve(), ofType(), other functions and operators) is refused when the patch is decoded.
//
// Decode reports a patch document that is malformed or uses what is not supported as a
// *DocumentError (HTTP 400). Apply reports an operation that cannot apply to the resource (no
// or several matches where one is needed, an element that exists already, an index out of
// range, a value whose type does not fit the element, an element name the definitions do not
// know) as an *ApplyError (HTTP 422). Apply never modifies its input, and may run any number of
// times on different documents (a write that lost a race applies the patch again).
package fhirpatch
