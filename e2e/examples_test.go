package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/conformance"
	"github.com/portico-health/portico/internal/needtool"
)

// examplesDir is where scripts/test installs the npm package hl7.fhir.r4.examples@4.0.1 (every
// example of the R4 specification, one resource a file), relative to e2e/.
const examplesDir = "../tools/r4-examples/node_modules/hl7.fhir.r4.examples"

// refusedExamplesFile lists the examples Portico refuses on purpose, with the reason.
const refusedExamplesFile = "testdata/official-examples-refused.txt"

// TestOfficialExamples creates every official R4 example in a Portico child process (PUT with
// its own id) and reads it back: each must be accepted and come back as sent (apart from
// meta.versionId and meta.lastUpdated), member order aside, numbers compared by their literal
// text. The examples Portico refuses on purpose are listed, each with its status and reason, in
// testdata/official-examples-refused.txt; a refusal or difference not listed fails the test,
// and so does a listed example that is accepted (the list must say what Portico does).
func TestOfficialExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == "package.json" })
	if len(files) == 0 {
		needtool.Unavailable(t, examplesDir+" is missing: run npm ci in tools/r4-examples")
	}
	if len(files) != 5306 {
		t.Fatalf("%d examples in %s, want the 5,306 resources of hl7.fhir.r4.examples 4.0.1", len(files), examplesDir)
	}
	refused := readRefusedExamples(t)

	// The largest examples are Bundles of the whole specification (35 MB): the limit is raised
	// so that they are checked too.
	p := startServe(t, freeAddr(t), "/readyz", "--data-dir", t.TempDir(), "--log-level", "warn",
		"--auth", "none", "--max-body-bytes", strconv.Itoa(64<<20))
	c := newClient(p.base)
	c.hc.Timeout = 2 * time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	type outcome struct {
		file   string
		status int    // of the PUT
		detail string // why it failed; "" when it round-tripped
	}
	outcomes := make([]outcome, len(files))
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for {
				next.Lock()
				n := i
				i++
				next.Unlock()
				if n >= len(files) || ctx.Err() != nil {
					return
				}
				status, detail := roundTripExample(ctx, c, files[n])
				outcomes[n] = outcome{filepath.Base(files[n]), status, detail}
			}
		})
	}
	wg.Wait()
	t.Logf("%d examples created and read back in %s", len(files), time.Since(start).Round(time.Second))

	accepted, failures := 0, 0
	for _, o := range outcomes {
		want, listed := refused[o.file]
		switch {
		case o.detail == "" && listed:
			t.Errorf("%s: accepted and read back as sent, but %s lists it as refused with %d (%s): remove the line",
				o.file, refusedExamplesFile, want.status, want.reason)
		case o.detail == "":
			accepted++
		case listed && o.status == want.status:
			// refused as expected
		case listed:
			t.Errorf("%s: %s, where %s says %d (%s)", o.file, o.detail, refusedExamplesFile, want.status, want.reason)
		default:
			failures++
			if failures <= 50 {
				t.Errorf("%s: %s", o.file, o.detail)
			}
		}
	}
	if failures > 50 {
		t.Errorf("... %d examples failed in all", failures)
	}
	t.Logf("%d accepted and identical, %d refused as listed in %s", accepted, len(refused), refusedExamplesFile)
	for name := range refused {
		if _, err := os.Stat(filepath.Join(examplesDir, name)); err != nil {
			t.Errorf("%s lists %s, which is not an example", refusedExamplesFile, name)
		}
	}
}

// roundTripExample PUTs one example under its id and reads it back. It returns the PUT's status
// and, when the example was refused or did not come back as sent, why.
func roundTripExample(ctx context.Context, c *client, file string) (int, string) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err.Error()
	}
	sent, err := decodeObject(data)
	if err != nil {
		return 0, "not a JSON object: " + err.Error()
	}
	typ, _ := sent["resourceType"].(string)
	id, _ := sent["id"].(string)
	if typ == "" || id == "" {
		return 0, "no resourceType or id"
	}
	put, err := c.do(ctx, http.MethodPut, typ+"/"+id, data)
	if err != nil {
		return 0, "PUT: " + err.Error()
	}
	if put.status != http.StatusCreated && put.status != http.StatusOK {
		return put.status, fmt.Sprintf("PUT %s/%s: %d %s", typ, id, put.status, truncate(put.body, 600))
	}
	got, err := c.do(ctx, http.MethodGet, typ+"/"+id, nil)
	if err != nil {
		return put.status, "GET: " + err.Error()
	}
	if got.status != http.StatusOK {
		return put.status, fmt.Sprintf("GET %s/%s: %d %s", typ, id, got.status, truncate(got.body, 600))
	}
	read, err := decodeObject(got.body)
	if err != nil {
		return put.status, "GET: " + err.Error()
	}
	if diffs := exampleDiffs(sent, read); len(diffs) > 0 {
		if len(diffs) > 8 {
			diffs = append(diffs[:8], fmt.Sprintf("... and %d more", len(diffs)-8))
		}
		return put.status, "read back differs from what was sent:\n  " + strings.Join(diffs, "\n  ")
	}
	return put.status, ""
}

// exampleDiffs lists the differences between what was sent and what was read back, apart from
// what the server owns: meta.versionId and meta.lastUpdated (and meta itself when the example
// had none and the server's meta has nothing else).
func exampleDiffs(sent, read map[string]any) []string {
	strip := func(m map[string]any) map[string]any {
		c := make(map[string]any, len(m))
		for k, v := range m {
			c[k] = v
		}
		if meta, ok := c["meta"].(map[string]any); ok {
			mc := make(map[string]any, len(meta))
			for k, v := range meta {
				if k != "versionId" && k != "lastUpdated" {
					mc[k] = v
				}
			}
			if len(mc) == 0 {
				delete(c, "meta")
			} else {
				c["meta"] = mc
			}
		}
		return c
	}
	return conformance.DiffJSON(strings.TrimSpace(fmt.Sprint(sent["resourceType"])), strip(sent), strip(read))
}

// refusal is one line of the refused-examples list.
type refusal struct {
	status int
	reason string
}

// readRefusedExamples reads refusedExamplesFile: one example a line, "FILE STATUS REASON";
// blank lines and lines starting with # are comments.
func readRefusedExamples(t *testing.T) map[string]refusal {
	t.Helper()
	f, err := os.Open(refusedExamplesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]refusal{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, " ", 3)
		status, err := strconv.Atoi(fields[min(1, len(fields)-1)])
		if len(fields) < 3 || err != nil || strings.TrimSpace(fields[2]) == "" {
			t.Fatalf("%s:%d: want FILE STATUS REASON, got %q", refusedExamplesFile, n, line)
		}
		if _, dup := out[fields[0]]; dup {
			t.Fatalf("%s:%d: %s listed twice", refusedExamplesFile, n, fields[0])
		}
		out[fields[0]] = refusal{status, strings.TrimSpace(fields[2])}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
