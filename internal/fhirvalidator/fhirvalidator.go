// Package fhirvalidator runs the official FHIR validator's engine (HAPI FHIR's
// FhirInstanceValidator with the R4 definitions, tools/fhir-validator) on resources, offline: a
// code of a code system it does not hold is a warning, never an error. One JVM validates a whole
// batch, since it takes about ten seconds to load the R4 definitions.
package fhirvalidator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/portico-health/portico/internal/needtool"
)

// Jar is where scripts/test builds the validator, relative to the repository root; its
// dependencies are in target/lib beside it.
const Jar = "tools/fhir-validator/target/fhir-validator.jar"

// Package is the folder of Portico's own definitions (an NPM-style FHIR package), relative to
// the repository root. The validator loads it when it exists.
const Package = "definitions/package"

// Issue is one finding of the validator.
type Issue struct {
	Severity  string `json:"severity"` // fatal, error, warning, information
	Location  string `json:"location"` // FHIRPath of the element, e.g. Patient.name[0]
	Line      int    `json:"line"`
	Col       int    `json:"col"`
	MessageID string `json:"messageId"`
	Message   string `json:"message"`
}

// IsError says whether the issue makes the resource invalid.
func (i Issue) IsError() bool { return i.Severity == "error" || i.Severity == "fatal" }

func (i Issue) String() string {
	return fmt.Sprintf("%s at %s: %s", i.Severity, i.Location, i.Message)
}

// Result is what the validator said about one resource.
type Result struct {
	Issues []Issue `json:"issues"`
}

// Errors returns the issues that make the resource invalid.
func (r Result) Errors() []Issue {
	var errs []Issue
	for _, i := range r.Issues {
		if i.IsError() {
			errs = append(errs, i)
		}
	}
	return errs
}

// Unavailable says why the validator cannot run here: the jar at jar is missing or java is not
// on PATH. "" when it can.
func Unavailable(jar string) string {
	if _, err := os.Stat(jar); err != nil {
		return jar + " is missing (build it with: mvn -q -f tools/fhir-validator/pom.xml package)"
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "java is not on PATH (the FHIR validator needs Java 17)"
	}
	return ""
}

// Need skips the test when the validator cannot run (saying why), and fails it under CI=true,
// where scripts/test builds the jar and such a skip would hide a missing install step.
func Need(t testing.TB, jar string) {
	t.Helper()
	if why := Unavailable(jar); why != "" {
		needtool.Unavailable(t, "no FHIR validator: "+why)
	}
}

// Validate runs the validator from jar once on every resource (FHIR JSON) and returns one Result
// per resource, in order. packages are package folders whose definitions are loaded; those that
// do not exist are left out.
func Validate(jar string, packages []string, resources [][]byte) ([]Result, error) {
	args := []string{"-jar", jar}
	for _, p := range packages {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			args = append(args, "--package", p)
		}
	}
	var in bytes.Buffer
	for i, r := range resources {
		var compact bytes.Buffer
		if err := json.Compact(&compact, r); err != nil {
			return nil, fmt.Errorf("resource %d is not JSON: %w", i, err)
		}
		in.Write(compact.Bytes())
		in.WriteByte('\n')
	}
	cmd := exec.Command("java", args...)
	cmd.Stdin = &in
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: some resource has errors
		return nil, fmt.Errorf("java %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	results := make([]Result, len(resources))
	seen := make([]bool, len(resources))
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var line struct {
			Name string `json:"name"`
			Result
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("validator output %q: %w", sc.Text(), err)
		}
		var n int
		if _, err := fmt.Sscanf(line.Name, "stdin:%d", &n); err != nil || n < 1 || n > len(resources) {
			return nil, fmt.Errorf("validator output names %q", line.Name)
		}
		results[n-1], seen[n-1] = line.Result, true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("the validator said nothing about resource %d\n%s", i, stderr.String())
		}
	}
	return results, nil
}
