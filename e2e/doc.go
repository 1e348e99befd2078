// Package e2e holds Portico's end-to-end tests: they build the `portico` command from the
// repository, run it as a child process on a loopback port and talk to it over HTTP only. They
// check what no in-process test can: that every acknowledged write survives SIGKILL at any
// moment, and that SIGTERM shuts down gracefully. bench_test.go measures create, read and
// update over HTTP in process (go test -bench . ./e2e).
package e2e
