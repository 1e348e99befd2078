// Package e2e holds Portico's end-to-end tests: they build the `portico` command from the
// repository, run it as a child process on a loopback port and talk to it over HTTP only. They
// check what no in-process test can: that every acknowledged write survives SIGKILL at any
// moment, that SIGTERM shuts down gracefully, that two processes on one MongoDB never lose an
// If-Match update and that a server started while MongoDB is down recovers (mongo_*_test.go),
// and, through Debian Chromium driven by playwright-core (browser/), that the /demo SMART app
// launches through the real authorization pages (browser_test.go). Independent software judges
// it too: HAPI FHIR's validator every answer of the conformance suite (validator_test.go), the
// 5,306 official R4 examples created and read back (examples_test.go), and the Python and
// JavaScript FHIR clients of clients/ (clients_test.go). bench_test.go measures create, read
// and update over HTTP in process (go test -bench . ./e2e).
package e2e
