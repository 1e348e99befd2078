package conformance

import (
	"strings"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	rep := Report{BaseURL: "http://x/fhir", RunID: "abcd", Duration: 1500 * time.Millisecond, Results: []Result{
		{Section: "crud", Name: "create", Status: Pass},
		{Section: "crud", Name: "read", Status: Fail, Detail: "GET Patient/1 → 500\nsecond line"},
		{Section: "patch", Name: "replace", Status: Skip, Detail: "no patch"},
	}}
	if rep.Passed() {
		t.Error("Passed with a failure")
	}
	if p, f, s := rep.Counts(); p != 1 || f != 1 || s != 1 {
		t.Errorf("Counts = %d, %d, %d", p, f, s)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"http://x/fhir", "\ncrud\n", "  PASS  create", "  FAIL  read", "        GET Patient/1 → 500\n        second line\n",
		"\npatch\n", "  SKIP  replace", "FAILED: 3 checks, 1 passed, 1 failed, 1 skipped",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}

	rep.Results[1].Status = Pass
	if !rep.Passed() {
		t.Error("not Passed without failures")
	}
	if (Report{Results: []Result{{Status: Skip}}}).Passed() {
		t.Error("Passed with nothing verified")
	}
}
