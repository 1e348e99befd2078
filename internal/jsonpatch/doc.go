// Package jsonpatch owns JSON Patch (RFC 6902) and JSON Pointer (RFC 6901) on the fhir.Value
// tree, so that a patched resource keeps its member order and its number literals exactly.
//
// Decode reports a malformed patch document as a *DocumentError (HTTP 400); Apply reports an
// operation that cannot be applied to the document as an *ApplyError, and a failed "test"
// operation as one for which errors.Is(err, ErrTestFailed) holds (both HTTP 422). Apply never
// modifies its input.
package jsonpatch
