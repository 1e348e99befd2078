// Command portico is a FHIR R4 server for patient portals.
//
//	portico [serve] [flags]          serve the FHIR API (the default)
//	portico admin app|user|keys ...  manage SMART apps, users and signing keys
//	portico admin backup|restore     copy the embedded store while it serves; restore a copy
//	portico conformance --base-url   run the black-box conformance suite against a FHIR server
//	portico healthcheck              exit 0 when the local server is ready (the container's HEALTHCHECK)
//	portico version                  print the version of this build
//
// `portico help` lists the commands and the environment variables; every command and
// subcommand takes --help.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones without the system's zoneinfo (the container is built from scratch)

	"github.com/portico-health/portico/internal/buildinfo"
)

// command is one `portico COMMAND`.
type command struct {
	name, summary string
	run           func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands are listed by `portico help` in this order.
var commands = []command{
	{"serve", "serve the FHIR API (the default when no command is given)", runServe},
	{"admin", "manage SMART apps, users and signing keys; back up and restore the embedded store", runAdmin},
	{"conformance", "run the black-box FHIR R4 conformance suite against a FHIR server", runConformance},
	{"healthcheck", "exit 0 when the local server is ready (the container's HEALTHCHECK)", runHealthcheck},
	{"version", "print the version of this build (also --version)", runVersion},
	{"help", "list the commands and the environment variables (also --help)", nil},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command line: it returns the exit code (0 success, 1 failure, 2 usage).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			if len(args) > 1 { // portico help COMMAND is portico COMMAND --help
				return run([]string{args[1], "--help"}, stdin, stdout, stderr)
			}
			printHelp(stdout)
			return 0
		case "-version", "--version":
			return runVersion(args[1:], stdin, stdout, stderr)
		}
	}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name && c.run != nil })
	if i < 0 {
		fmt.Fprintf(stderr, "portico: unknown command %q (portico help lists the commands)\n", name)
		return 2
	}
	return commands[i].run(args, stdin, stdout, stderr)
}

// printHelp is `portico help`: the commands, one line each, and the environment variables,
// generated from the serve flags.
func printHelp(w io.Writer) {
	fmt.Fprintln(w, "Portico: a FHIR R4 server for patient portals.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: portico [COMMAND] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`portico COMMAND --help` shows a command's flags (`portico admin --help` its subcommands).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "environment: each serve flag is also PORTICO_<FLAG>; a flag on the command line wins.")
	fs, _, _ := serveFlags()
	width := 0
	fs.VisitAll(func(f *flag.Flag) { width = max(width, len(envName(f.Name))) })
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(w, "  %-*s %s\n", width, envName(f.Name), firstLine(f.Usage))
	})
	fmt.Fprintf(w, "  %-*s %s\n", width, passwordEnv, "admin user create and reset-password: the password (else read from stdin)")
	fmt.Fprintln(w, "The flags of the other commands can be set the same way (PORTICO_BASE_URL for conformance).")
}

// firstLine is a flag's usage up to its first "; " outside parentheses, so that the list keeps
// to the gist of each variable; `portico serve --help` has the rest.
func firstLine(usage string) string {
	depth := 0
	for i, r := range usage {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ';' && depth == 0 && strings.HasPrefix(usage[i:], "; "):
			return usage[:i]
		}
	}
	return usage
}

// envName is the environment variable of a flag: PORTICO_ and the name in capitals, dashes
// made underscores (--data-dir is PORTICO_DATA_DIR).
func envName(flagName string) string {
	return "PORTICO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseWithEnv parses args after filling, for each flag, PORTICO_<FLAG> from the environment.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return fs.Parse(args)
}

// parseCommand parses the flags of `portico NAME` (fs.Name()) from PORTICO_<FLAG> and args. On
// -h or --help it prints usage and the flags on stdout (exit 0); on a bad flag or value, or an
// argument that is not a flag, it says so on stderr (exit 2). done reports that the command
// must end with code.
func parseCommand(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(io.Discard) // the messages below replace the flag package's
	fs.Usage = func() {}
	err := parseWithEnv(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, fs, usage)
		return 0, true
	case err != nil:
		fmt.Fprintf(stderr, "portico %s: %v\n`portico %s --help` lists the flags.\n", fs.Name(), err, fs.Name())
		return 2, true
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "portico %s: unexpected argument %q (flags start with --; `portico %s --help` lists them)\n",
			fs.Name(), fs.Arg(0), fs.Name())
		return 2, true
	}
	return 0, false
}

// printUsage writes usage, then each flag with its default and environment variable.
func printUsage(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprintln(w, strings.TrimRight(usage, "\n"))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags (each also PORTICO_<FLAG> in the environment):")
	fs.VisitAll(func(f *flag.Flag) {
		typ, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(w, line)
		extra := envName(f.Name)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			extra = fmt.Sprintf("default %q; %s", f.DefValue, extra)
		}
		fmt.Fprintf(w, "        %s (%s)\n", text, extra)
	})
}

// runVersion is `portico version`: the build's version, commit and toolchain.
func runVersion(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if code, done := parseCommand(fs, args, "usage: portico version\n\nPrints the version of this build (the CapabilityStatement's software.version), its commit and Go toolchain.", stdout, stderr); done {
		return code
	}
	printVersion(stdout)
	return 0
}

// printVersion writes the version, the commit when known and the toolchain.
func printVersion(w io.Writer) {
	in := buildinfo.Read()
	fmt.Fprintf(w, "portico %s\n", in.Version)
	if in.Revision != "" {
		line := "commit " + in.Revision
		if !in.Time.IsZero() {
			line += " of " + in.Time.UTC().Format(time.RFC3339)
		}
		if in.Modified {
			line += ", with uncommitted changes"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "built with %s for %s\n", in.GoVersion, in.Platform)
}
