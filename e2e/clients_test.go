package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/needtool"
)

// The real-client tests: common FHIR client libraries, unmodified, run short scripts
// (e2e/clients/) against a Portico child process, and this file checks over HTTP what they
// did. Python's fhirclient (SMART's client, with its R4 models) and fhir.resources (pydantic R4
// models, with requests) come from the venv e2e/clients/.venv, the JavaScript fhir-kit-client
// from e2e/clients/node_modules; scripts/test installs both.

// clientTools returns the venv's python and node, or skips the test, and fails it under
// CI=true, where a skip would hide a missing install step in scripts/test.
func clientTools(t *testing.T) (python, node string) {
	t.Helper()
	unavailable := func(why string) { t.Helper(); needtool.Unavailable(t, why) }
	python = filepath.Join("clients", ".venv", "bin", "python")
	if _, err := os.Stat(python); err != nil {
		unavailable("no Python venv at e2e/clients/.venv: python3 -m venv e2e/clients/.venv && e2e/clients/.venv/bin/pip install -r e2e/clients/requirements.txt")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("clients", "node_modules", "fhir-kit-client", "package.json")); err != nil {
		unavailable("e2e/clients/node_modules is missing: run npm ci in e2e/clients")
	}
	abs, err := filepath.Abs(python)
	if err != nil {
		t.Fatal(err)
	}
	return abs, node
}

// clientRun is what every client script prints: what it created and saw.
type clientRun struct {
	Client          string   `json:"client"`
	Patient         string   `json:"patient"`
	Pages           int      `json:"pages"`
	Observations    []string `json:"observations"`
	HistoryVersions []string `json:"historyVersions"`
	Transaction     []string `json:"transaction"`
	PatchedVersion  string   `json:"patchedVersion"`
	Deleted         string   `json:"deleted"`
}

// TestFHIRClients runs fhirclient, fhir.resources and fhir-kit-client through the same story
// against an open Portico: metadata, create, read, seven Observations searched three to a page
// through the next links, update, history, a transaction with a urn:uuid reference, a patch
// (JSON Patch; FHIRPath Patch from fhir.resources), delete. The scripts check each answer as the
// client sees it (parsed into its models); the test then checks the server's state.
func TestFHIRClients(t *testing.T) {
	python, node := clientTools(t)
	p := startPortico(t, freeAddr(t), t.TempDir())
	c := newClient(p.base)
	for _, tc := range []struct {
		name string
		cmd  []string
	}{
		{"fhirclient", []string{python, "fhirclient_flow.py"}},
		{"fhir.resources", []string{python, "fhir_resources_flow.py"}},
		{"fhir-kit-client", []string{node, "fhir_kit_client.mjs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := randomTag()
			out := runClientScript(t, tc.cmd, nil, "PORTICO_FHIR_BASE="+p.base, "PORTICO_RUN="+tag)
			var run clientRun
			if err := json.Unmarshal(out, &run); err != nil {
				t.Fatalf("%s printed %q: %v", tc.name, out, err)
			}
			checkClientRun(t, c, tag, run)
		})
	}
}

// checkClientRun checks the server holds what a client script says it did.
func checkClientRun(t *testing.T, c *client, tag string, run clientRun) {
	t.Helper()
	ctx := t.Context()
	get := func(path string) (int, map[string]any) {
		t.Helper()
		r, err := c.do(ctx, http.MethodGet, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := decodeObject(r.body)
		return r.status, m
	}

	// The patient, at the version the patch made, with the update and the patch applied; one
	// patient with the run's identifier (a conditional create found it, made no other).
	status, patient := get("Patient/" + run.Patient)
	if status != http.StatusOK {
		t.Fatalf("Patient/%s: %d", run.Patient, status)
	}
	if versionOf(patient) != 3 || run.PatchedVersion != "3" {
		t.Errorf("Patient/%s at version %d, the client saw %q; want 3 (create, update, patch)", run.Patient, versionOf(patient), run.PatchedVersion)
	}
	if patient["gender"] != "female" || patient["telecom"] == nil {
		t.Errorf("Patient/%s lacks the update or the patch: %v", run.Patient, patient)
	}
	matches, err := c.bundleEntries(ctx, "Patient?identifier=https://example.org/clients|"+tag)
	if err != nil || len(matches) != 1 {
		t.Errorf("%d patients with the run's identifier (%v), want 1", len(matches), err)
	}
	if !slices.Equal(run.HistoryVersions, []string{"2", "1"}) {
		t.Errorf("history the client read: %v, want [2 1]", run.HistoryVersions)
	}
	if hist, err := c.bundleEntries(ctx, "Patient/"+run.Patient+"/_history"); err != nil || len(hist) != 3 {
		t.Errorf("Patient/%s/_history: %d entries (%v), want 3", run.Patient, len(hist), err)
	}

	// Seven Observations, each once, on three pages; the deleted one gone.
	seen := map[string]bool{}
	for _, id := range run.Observations {
		seen[id] = true
	}
	if len(run.Observations) != 7 || len(seen) != 7 || run.Pages != 3 {
		t.Errorf("the search gave %d Observations (%d distinct) on %d pages, want 7 on 3", len(run.Observations), len(seen), run.Pages)
	}
	left, err := c.bundleEntries(ctx, "Observation?subject=Patient/"+run.Patient)
	if err != nil || len(left) != 6 {
		t.Errorf("%d Observations left (%v), want 6", len(left), err)
	}
	if status, _ := get("Observation/" + run.Deleted); status != http.StatusGone {
		t.Errorf("deleted Observation/%s: %d, want 410", run.Deleted, status)
	}

	// The transaction: the Observation refers to the Patient created beside it.
	if len(run.Transaction) != 2 {
		t.Fatalf("transaction locations %v", run.Transaction)
	}
	txPatient, _, _ := strings.Cut(run.Transaction[0], "/_history/")
	txObs, _, _ := strings.Cut(run.Transaction[1], "/_history/")
	status, obs := get(txObs)
	if status != http.StatusOK {
		t.Fatalf("%s: %d", txObs, status)
	}
	if ref, _ := obs["subject"].(map[string]any)["reference"].(string); ref != txPatient {
		t.Errorf("%s subject %q, want %q", txObs, ref, txPatient)
	}
	if status, _ := get(txPatient); status != http.StatusOK {
		t.Errorf("%s: %d", txPatient, status)
	}
}

// TestFHIRClientSMARTLaunch: fhirclient's own SMART standalone launch against Portico with
// tokens required. The script builds the authorize URL from the CapabilityStatement's oauth-uris
// (PKCE included); this test plays the patient's browser (sign-in and consent pages) and hands
// the redirect back; the client exchanges the code, reads its launch patient and their
// Observations with the token, is refused a write (403) and refreshes its token as a public
// client.
func TestFHIRClientSMARTLaunch(t *testing.T) {
	python, _ := clientTools(t)
	addr, dataDir := freeAddr(t), t.TempDir()
	p := startServe(t, addr, "/readyz", "--data-dir", dataDir, "--log-level", "warn", "--auth", "smart")
	origin := "http://" + addr

	var ehrApp struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	adminJSON(t, dataDir, nil, &ehrApp, "app", "create", "--name", "Test EHR", "--type", "confidential",
		"--redirect-uri", "https://ehr.example/callback", "--scope", "system/*.cruds")
	ehr := &ehrClient{t: t, c: newClient(p.base), origin: origin, id: ehrApp.ClientID, secret: ehrApp.ClientSecret}
	pid := ehr.create("Patient", map[string]any{"name": []any{map[string]any{"family": "Launch", "given": []any{"Lena"}}}, "birthDate": "1990-01-02"})
	other := ehr.create("Patient", map[string]any{"name": []any{map[string]any{"family": "Other"}}})
	var mine []string
	for _, day := range []string{"01", "02", "03"} {
		mine = append(mine, ehr.create("Observation", observation(pid, "8867-4", "Heart rate", "vital-signs", "2026-01-"+day+"T08:00:00Z", 70, "/min")))
	}
	ehr.create("Observation", observation(other, "8867-4", "Heart rate", "vital-signs", "2026-01-01T08:00:00Z", 90, "/min"))

	const redirect = "http://127.0.0.1:9/callback" // never opened: the browser stops at the redirect
	var app struct {
		ClientID string `json:"client_id"`
	}
	adminJSON(t, dataDir, nil, &app, "app", "create", "--name", "fhirclient app", "--type", "public", "--redirect-uri", redirect)
	password := "correct horse " + randomTag()
	var u map[string]any
	adminJSON(t, dataDir, []string{"PORTICO_PASSWORD=" + password}, &u, "user", "create", "--username", "lena", "--fhir-user", "Patient/"+pid)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "fhirclient_smart.py")
	cmd.Dir = "clients"
	cmd.Env = append(os.Environ(), "PORTICO_FHIR_BASE="+p.base, "PORTICO_CLIENT_ID="+app.ClientID, "PORTICO_REDIRECT_URI="+redirect)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	fail := func(format string, args ...any) {
		t.Helper()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf(format+"\nfhirclient_smart.py stderr:\n%s", append(args, stderr.String())...)
	}
	if !lines.Scan() {
		fail("the script printed no authorize URL")
	}
	var first struct{ Authorize string }
	if err := json.Unmarshal(lines.Bytes(), &first); err != nil || !strings.HasPrefix(first.Authorize, origin+"/auth/authorize?") {
		fail("first line %q: want {\"authorize\": %s/auth/authorize?...}", lines.Text(), origin)
	}
	loc := newAuthClient(t, origin).approve(first.Authorize, "lena", password)
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect {
		fail("redirected to %s, want %s", loc, redirect)
	}
	if _, err := io.WriteString(stdin, loc.String()+"\n"); err != nil {
		fail("%v", err)
	}
	if !lines.Scan() {
		fail("the script printed no result")
	}
	out := slices.Clone(lines.Bytes())
	if err := cmd.Wait(); err != nil {
		fail("fhirclient_smart.py: %v", err)
	}

	var run struct {
		Patient, Scope, Family, FamilyAfterRefresh string
		Observations                               []string
		WriteRefused                               bool
	}
	if err := json.Unmarshal(out, &run); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	t.Logf("fhirclient: %s", out)
	if run.Patient != pid || run.Family != "Launch" || run.FamilyAfterRefresh != "Launch" {
		t.Errorf("launch patient %q (%q, after refresh %q), want %s (Launch)", run.Patient, run.Family, run.FamilyAfterRefresh, pid)
	}
	slices.Sort(run.Observations)
	slices.Sort(mine)
	if !slices.Equal(run.Observations, mine) {
		t.Errorf("Observations the client read: %v, want the patient's %v", run.Observations, mine)
	}
	if !run.WriteRefused {
		t.Error("a write with read-only scopes was not refused with 403")
	}
	if !strings.Contains(run.Scope, "patient/Observation.rs") {
		t.Errorf("granted scope %q", run.Scope)
	}
}

// runClientScript runs a client script in e2e/clients with env added and stdin, and returns its
// standard output; its standard error goes to the test log when it fails.
func runClientScript(t *testing.T, argv []string, stdin io.Reader, env ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "clients"
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(argv[1:], " "), err, stdout.String(), stderr.String())
	}
	t.Logf("%s ran in %s: %s", argv[1], time.Since(start).Round(time.Millisecond), bytes.TrimSpace(stdout.Bytes()))
	return stdout.Bytes()
}

// randomTag is 8 random hex digits, to mark one run's resources.
func randomTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("r%s", hex.EncodeToString(b[:]))
}
