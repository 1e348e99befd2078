package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/portico-health/portico/conformance"
)

const conformanceUsage = `usage: portico conformance --base-url URL [--timeout 2m] [--section NAME[,NAME...]] [-v]

Runs the black-box FHIR R4 conformance suite against URL and prints the report; exits 0 if
every check passed, 1 if one failed, 2 on a usage error.`

// runConformance implements `portico conformance`: it runs the black-box suite against a FHIR
// R4 base URL, prints the report on stdout, and exits 0 when every check passed, 1 when one
// failed, 2 on a usage error. Flags can also come from PORTICO_<FLAG> (PORTICO_BASE_URL, ...).
func runConformance(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	baseURL := fs.String("base-url", "", "FHIR base URL of the server to check, e.g. http://localhost:8080/fhir (required)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up on the whole run after this long")
	sections := fs.String("section", "", "comma-separated sections to run (default all): "+strings.Join(conformance.Sections(), ", "))
	verbose := fs.Bool("v", false, "log every request on stderr")
	if code, done := parseCommand(fs, args, conformanceUsage, stdout, stderr); done {
		return code
	}
	if err := checkConformanceFlags(*baseURL, *timeout, *sections); err != nil {
		fmt.Fprintf(stderr, "portico conformance: %v\n`portico conformance --help` lists the flags.\n", err)
		return 2
	}

	opts := conformance.Options{BaseURL: *baseURL}
	if *sections != "" {
		opts.Sections = strings.Split(*sections, ",")
	}
	if *verbose {
		opts.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	report := conformance.Run(ctx, opts)
	if err := report.WriteText(stdout); err != nil {
		fmt.Fprintln(stderr, "portico conformance:", err)
		return 1
	}
	if !report.Passed() {
		return 1
	}
	return 0
}

// checkConformanceFlags reports every usage problem at once.
func checkConformanceFlags(baseURL string, timeout time.Duration, sections string) error {
	var errs []error
	if u, err := url.Parse(baseURL); baseURL == "" {
		errs = append(errs, errors.New("--base-url (or PORTICO_BASE_URL) is required"))
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--base-url %q is not an absolute http(s) URL", baseURL))
	}
	if timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	if sections != "" {
		for _, s := range strings.Split(sections, ",") {
			if !slices.Contains(conformance.Sections(), s) {
				errs = append(errs, fmt.Errorf("--section %q is not one of %s", s, strings.Join(conformance.Sections(), ", ")))
			}
		}
	}
	return errors.Join(errs...)
}
