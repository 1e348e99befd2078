package conformance

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is the outcome of one check.
type Status int

const (
	Pass Status = iota
	Fail
	Skip // not applicable: the server does not advertise the feature, or cannot be judged
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	case Skip:
		return "SKIP"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is the outcome of one check of the suite.
type Result struct {
	Section  string
	Name     string
	Status   Status
	Detail   string // why it failed or was skipped; empty when it passed
	Duration time.Duration
}

// Report is what Run found.
type Report struct {
	BaseURL  string
	RunID    string // marks every identifier the run created, to find its resources afterwards
	Started  time.Time
	Duration time.Duration
	Results  []Result
}

// Passed reports whether no check failed. Skipped checks do not count against the server, but a
// report without a single passed check does: it means nothing was verified.
func (r Report) Passed() bool {
	pass, fail, _ := r.Counts()
	return fail == 0 && pass > 0
}

// Counts returns how many checks passed, failed and were skipped.
func (r Report) Counts() (pass, fail, skip int) {
	for _, res := range r.Results {
		switch res.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		case Skip:
			skip++
		}
	}
	return pass, fail, skip
}

// Failures returns the failed checks.
func (r Report) Failures() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status == Fail {
			out = append(out, res)
		}
	}
	return out
}

// WriteText prints the report for people: one line per check grouped by section, details
// indented below, and a summary line.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "FHIR R4 conformance of %s (run %s, %s)\n", r.BaseURL, r.RunID, r.Duration.Round(time.Millisecond))
	section := ""
	for _, res := range r.Results {
		if res.Section != section {
			section = res.Section
			fmt.Fprintf(&b, "\n%s\n", section)
		}
		fmt.Fprintf(&b, "  %s  %-34s %6s\n", res.Status, res.Name, res.Duration.Round(time.Millisecond))
		if res.Detail != "" {
			for _, line := range strings.Split(strings.TrimRight(res.Detail, "\n"), "\n") {
				fmt.Fprintf(&b, "        %s\n", line)
			}
		}
	}
	pass, fail, skip := r.Counts()
	verdict := "PASSED"
	if !r.Passed() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "\n%s: %d checks, %d passed, %d failed, %d skipped\n", verdict, len(r.Results), pass, fail, skip)
	_, err := io.WriteString(w, b.String())
	return err
}
