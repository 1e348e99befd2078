package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

func runTest(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelp: `portico help` and --help list every command, one line each, and every serve flag
// as its PORTICO_ variable.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"-help"}} {
		code, out, stderr := runTest(args...)
		if code != 0 || stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, stderr)
		}
		for _, c := range commands {
			if !strings.Contains(out, "\n  "+c.name+" ") {
				t.Errorf("%v does not list the command %s:\n%s", args, c.name, out)
			}
		}
		fs, _, _ := serveFlags()
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(out, "\n  "+envName(f.Name)+" ") {
				t.Errorf("%v does not list %s", args, envName(f.Name))
			}
		})
		for _, v := range []string{"PORTICO_DATA_DIR", "PORTICO_SQLITE_QUICK_CHECK", "PORTICO_PASSWORD"} {
			if !strings.Contains(out, v) {
				t.Errorf("%v does not list %s", args, v)
			}
		}
	}
	if code, out, _ := runTest("help", "healthcheck"); code != 0 || !strings.Contains(out, "--live") {
		t.Errorf("help healthcheck: %d %s", code, out)
	}
}

// TestSubcommandHelp: --help and -h work on every command and admin subcommand, print on stdout
// and exit 0.
func TestSubcommandHelp(t *testing.T) {
	cases := map[string]string{ // arguments before --help → text the help must contain
		"serve":       "--data-dir",
		"conformance": "--base-url",
		"healthcheck": "--live",
		"version":     "usage: portico version",
		"admin":       "app create",
		"admin app":   "app rotate-secret",
		"admin user":  "user reset-password",
		"admin keys":  "keys rotate",
	}
	for _, c := range adminCommands() {
		cases["admin "+c.name] = "usage: portico admin " + c.name
	}
	for args, want := range cases {
		for _, h := range []string{"--help", "-h"} {
			code, out, stderr := runTest(append(strings.Fields(args), h)...)
			if code != 0 || !strings.Contains(out, want) || stderr != "" {
				t.Errorf("portico %s %s: exit %d, stdout lacks %q: %s%s", args, h, code, want, out, stderr)
			}
		}
	}
	// A command's help names its flags with their variables.
	if _, out, _ := runTest("admin", "user", "create", "--help"); !strings.Contains(out, "--fhir-user") || !strings.Contains(out, "PORTICO_DATA_DIR") || !strings.Contains(out, "PORTICO_PASSWORD") {
		t.Errorf("admin user create --help:\n%s", out)
	}
	if _, out, _ := runTest("admin", "app", "--help"); strings.Contains(out, "user create") {
		t.Errorf("admin app --help lists other groups' commands:\n%s", out)
	}
}

// TestUsageErrors: unknown commands, flags and arguments exit 2 with a message on stderr, and
// nothing starts.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"explode"},
		{"serve", "extra-arg"},
		{"serve", "--addr", "127.0.0.1:0", "extra-arg"},
		{"serve", "--no-such-flag"},
		{"--no-such-flag"},
		{"serve", "--max-body-bytes", "lots"},
		{"healthcheck", "now"},
		{"conformance", "http://localhost:8080/fhir"},
		{"conformance"},
		{"version", "extra"},
		{"admin"},
		{"admin", "explode"},
		{"admin", "app"},
		{"admin", "app", "explode"},
		{"admin", "app", "--client-id", "x"},
		{"admin", "app", "list", "extra"},
		{"admin", "user", "create", "--username", "x", "--password", "secret123"},
		{"admin", "backup", "--data-dir", "x", "--out"},
	} {
		code, out, stderr := runTest(args...)
		if code != 2 || stderr == "" || out != "" {
			t.Errorf("portico %s: exit %d (want 2), stdout %q, stderr %q", strings.Join(args, " "), code, out, stderr)
		}
	}
	if _, _, stderr := runTest("serve", "extra-arg"); !strings.Contains(stderr, `unexpected argument "extra-arg"`) {
		t.Errorf("serve extra-arg: %s", stderr)
	}
}

// TestVersion: `portico version` and --version print the build's version (here, under go test,
// "dev": nothing is known of the build) and the toolchain.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, stderr := runTest(args...)
		if code != 0 || !strings.HasPrefix(out, "portico ") || !strings.Contains(out, "built with go") || stderr != "" {
			t.Errorf("%v: exit %d, %q %q", args, code, out, stderr)
		}
	}
}
