package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Options say where and how to run the suite.
type Options struct {
	BaseURL  string                           // the FHIR base, e.g. "http://localhost:8080/fhir"
	Client   *http.Client                     // nil: a client with a 30 s timeout per request
	Logf     func(format string, args ...any) // nil: silent; otherwise one line per request
	Sections []string                         // nil: all of Sections(); else those named (unknown names match none)
}

// section is a named group of checks, run in order.
type section struct {
	name   string
	checks []check
}

// check is one verifiable claim. run returns nil when it holds, a skip error (skipf) when it
// does not apply to the server, and any other error, saying what differed, when it fails.
type check struct {
	name string
	run  func(ctx context.Context, s *session) error
}

// suite lists the sections in the order they run: capabilities first, because later sections
// consult the CapabilityStatement to skip what the server does not claim.
func suite() []section {
	return []section{
		{"capabilities", capabilityChecks},
		{"crud", crudChecks},
		{"conditional", conditionalChecks},
		{"versioning", versioningChecks},
		{"patch", patchChecks},
		{"errors", errorChecks},
		{"fidelity", fidelityChecks},
		{"format", formatChecks},
		{"search", searchChecks},
		{"bundles", bundleChecks},
	}
}

// Sections names the sections of the suite, in the order they run.
func Sections() []string {
	var names []string
	for _, sec := range suite() {
		names = append(names, sec.name)
	}
	return names
}

// Run runs the suite against opts.BaseURL and reports every check. It never stops early: a
// failed check is reported and the next one runs, so one broken interaction does not hide the
// state of the others. When ctx ends, the remaining checks fail with the context's error.
// Each check creates its own resources, marked with identifiers unique to the run, and deletes
// them afterwards, so the suite can run repeatedly against a shared server.
func Run(ctx context.Context, opts Options) Report {
	s := newSession(opts)
	rep := Report{BaseURL: s.base, RunID: s.runID, Started: time.Now()}
	s.caps = s.loadCapabilities(ctx)
	for _, sec := range suite() {
		if opts.Sections != nil && !slices.Contains(opts.Sections, sec.name) {
			continue
		}
		for _, c := range sec.checks {
			rep.Results = append(rep.Results, s.runCheck(ctx, sec.name, c))
		}
	}
	rep.Duration = time.Since(rep.Started)
	return rep
}

func (s *session) runCheck(ctx context.Context, sectionName string, c check) Result {
	start := time.Now()
	res := Result{Section: sectionName, Name: c.name}
	var err error
	if err = ctx.Err(); err == nil {
		err = c.run(ctx, s)
	}
	s.cleanUp(ctx)
	res.Duration = time.Since(start)
	var skip *skipError
	switch {
	case err == nil:
		res.Status = Pass
	case errors.As(err, &skip):
		res.Status, res.Detail = Skip, skip.reason
	default:
		res.Status, res.Detail = Fail, err.Error()
	}
	return res
}

// skipError marks a check that does not apply.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

func skipf(format string, args ...any) error {
	return &skipError{reason: fmt.Sprintf(format, args...)}
}

// newRunID returns 8 random hex digits: short enough to read in identifiers, random enough that
// concurrent runs against one server do not collide.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func trimBase(u string) string { return strings.TrimRight(u, "/") }
