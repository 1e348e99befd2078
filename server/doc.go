// Package server wires Portico together: it opens the configured store, builds the Echo
// instance with the FHIR API, the CapabilityStatement and the health endpoints, and runs the
// HTTP server with graceful shutdown. The `portico serve` command and the end-to-end tests
// both start Portico through it.
package server
