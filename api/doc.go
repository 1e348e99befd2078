// Package api owns Portico's FHIR R4 RESTful API: routing under the FHIR base, content
// negotiation, the instance and type interactions (create, read, vread, update, patch, delete,
// history, and their conditional forms), search (type and system, with chains, _has, _include,
// _sort, _summary, ...; docs/search.md), Bundles of history and searchset, and the single
// place where errors become OperationOutcome responses (HTTPErrorHandler).
//
// Handlers return errors; they never write error responses themselves. What a request may
// do to the store is decided here, from the FHIR R4 RESTful API specification
// (http://hl7.org/fhir/R4/http.html); docs/rest-api.md describes every interaction, header
// and status code, and the choices the specification leaves open.
package api
