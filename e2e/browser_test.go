package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/needtool"
)

// The real-browser tests: Portico runs with --auth=smart --demo as a child process, and
// e2e/browser/demo.mjs drives headless Chromium (Debian's chromium, through playwright-core)
// through the /demo SMART app and Portico's sign-in, patient-picker and consent pages. The
// scenarios are in demo.mjs; this file seeds the data, runs one node process per scenario and
// checks what the browser got against the server over HTTP.

// browserTools returns the Chromium executable and the node binary, or skips the test, and
// fails it under CI=true, where a skip would hide a missing install step in .ci/run.
func browserTools(t *testing.T) (chromium, node string) {
	t.Helper()
	unavailable := func(why string) { t.Helper(); needtool.Unavailable(t, why) }
	chromium = os.Getenv("PORTICO_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		unavailable("no Chromium at " + chromium + ": apt-get install chromium (or set PORTICO_CHROMIUM)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("browser", "node_modules", "playwright-core", "package.json")); err != nil {
		unavailable("e2e/browser/node_modules is missing: run npm ci in e2e/browser")
	}
	return chromium, node
}

// startSMARTPortico runs `portico serve --auth=smart --demo` and waits until /readyz answers.
func startSMARTPortico(t *testing.T, addr, dataDir string) *proc {
	t.Helper()
	return startServe(t, addr, "/readyz", "--data-dir", dataDir, "--log-level", "info", "--auth", "smart", "--demo")
}

// admin runs `portico admin ARGS --data-dir DIR` (while the server runs, as an operator would)
// and decodes its JSON output into out.
func adminJSON(t *testing.T, dataDir string, env []string, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(porticoBinary(t), append(append([]string{"admin"}, args...), "--data-dir", dataDir)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("portico admin %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("portico admin %s: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

// demoPatient is what the browser must show for one patient.
type demoPatient struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Family       string   `json:"family"`
	BirthDate    string   `json:"birthDate"`
	Observations []string `json:"observations"` // latest first
	Messages     []string `json:"messages"`     // by priority, then sent
}

type demoUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// browserConfig is PORTICO_E2E for demo.mjs.
type browserConfig struct {
	Origin      string      `json:"origin"`
	FHIRBase    string      `json:"fhirBase"`
	Chromium    string      `json:"chromium"`
	Shots       string      `json:"shots"`
	PatientUser demoUser    `json:"patientUser"`
	StaffUser   demoUser    `json:"staffUser"`
	Peter       demoPatient `json:"peter"`
	Amy         demoPatient `json:"amy"`
	Launch      string      `json:"launch"`
	Seeded      seededUser  `json:"seeded"`
	AppOrigin   string      `json:"appOrigin,omitempty"` // a second origin serving the demo app (browser_cors_test.go)
}

// seededUser is what demo/seed.sh made.
type seededUser struct {
	demoUser
	Name         string `json:"name"`
	Observations int    `json:"observations"`
	Messages     int    `json:"messages"`
}

// ehrClient is a confidential client (client_secret_basic, system/*.cruds) standing in for the
// EHR: it seeds the data over the FHIR API and issues launch handles.
type ehrClient struct {
	t             *testing.T
	c             *client
	origin        string
	id, secret    string
	token         string
	tokenDeadline time.Time
}

func (e *ehrClient) accessToken() string {
	e.t.Helper()
	if e.token != "" && time.Now().Before(e.tokenDeadline) {
		return e.token
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	e.postForm("/auth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.cruds"}}, true, &tr)
	e.token, e.tokenDeadline = tr.AccessToken, time.Now().Add(time.Duration(tr.ExpiresIn)*time.Second/2)
	return e.token
}

func (e *ehrClient) postForm(path string, form url.Values, basic bool, out any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.origin+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(e.id), url.QueryEscape(e.secret))
	} else {
		req.Header.Set("Authorization", "Bearer "+e.accessToken())
	}
	resp, err := e.c.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		e.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b.String())
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		e.t.Fatal(err)
	}
}

// create POSTs a resource and returns its id.
func (e *ehrClient) create(typ string, resource map[string]any) string {
	e.t.Helper()
	resource["resourceType"] = typ
	body, _ := json.Marshal(resource)
	r, err := e.c.do(context.Background(), http.MethodPost, typ, body, "Authorization", "Bearer "+e.accessToken())
	if err != nil {
		e.t.Fatal(err)
	}
	if r.status != http.StatusCreated {
		e.t.Fatalf("create %s: %d %s", typ, r.status, r.body)
	}
	var got struct{ ID string }
	if err := json.Unmarshal(r.body, &got); err != nil || got.ID == "" {
		e.t.Fatalf("create %s: no id in %s", typ, r.body)
	}
	return got.ID
}

// messageSenders maps the text of each stored message about patient pid to its sender.
func (e *ehrClient) messageSenders(t *testing.T, pid string) map[string]string {
	t.Helper()
	r, err := e.c.do(context.Background(), http.MethodGet, "Communication?patient="+pid+"&_count=100", nil, "Authorization", "Bearer "+e.accessToken())
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("search: %v %d %s", err, r.status, r.body)
	}
	var b struct {
		Entry []struct {
			Resource struct {
				Sender  struct{ Reference string }
				Payload []struct{ ContentString string }
			}
		}
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, en := range b.Entry {
		if len(en.Resource.Payload) > 0 {
			out[en.Resource.Payload[0].ContentString] = en.Resource.Sender.Reference
		}
	}
	return out
}

func observation(pid, code, display, category, when string, value float64, unit string) map[string]any {
	return map[string]any{
		"status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}}}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": code, "display": display}}, "text": display},
		"subject":           map[string]any{"reference": "Patient/" + pid},
		"effectiveDateTime": when,
		"valueQuantity":     map[string]any{"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
	}
}

func message(subject, sender, recipient, priority, sent, text string) map[string]any {
	return map[string]any{
		"status":    "completed",
		"priority":  priority,
		"subject":   map[string]any{"reference": subject},
		"sender":    map[string]any{"reference": sender},
		"recipient": []any{map[string]any{"reference": recipient}},
		"sent":      sent,
		"payload":   []any{map[string]any{"contentString": text}},
	}
}

// screenshotDir is where demo.mjs saves its screenshots: $PORTICO_E2E_SCREENSHOTS, to keep
// them somewhere to look at, or a temporary directory.
func screenshotDir(t *testing.T) string {
	shots := os.Getenv("PORTICO_E2E_SCREENSHOTS")
	if shots == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return shots
}

// runBrowserScenario runs demo.mjs SCENARIO with cfg and returns its JSON result.
func runBrowserScenario(t *testing.T, node string, cfg browserConfig, scenario string) map[string]any {
	t.Helper()
	env, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "demo.mjs", scenario)
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(), "PORTICO_E2E="+string(env))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo.mjs %s: %v\n%s%s\n(screenshots in %s)", scenario, err, stderr.String(), stdout.String(), cfg.Shots)
	}
	var res map[string]any
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res["ok"] != true {
		t.Fatalf("demo.mjs %s: no result: %v\n%s", scenario, err, stdout.String())
	}
	t.Logf("%s: screenshot in %s", scenario, cfg.Shots)
	return res
}

// TestBrowserDemo drives the /demo app and the authorization pages in headless Chromium:
// standalone launch with a scope unticked, sending a message, EHR launch, a wrong password,
// the login form without JavaScript and by keyboard only, and a practitioner's patient picker.
func TestBrowserDemo(t *testing.T) {
	chromium, node := browserTools(t)
	addr := freeAddr(t)
	dataDir := t.TempDir()
	p := startSMARTPortico(t, addr, dataDir)
	origin := "http://" + addr

	var ehrApp struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	adminJSON(t, dataDir, nil, &ehrApp, "app", "create", "--name", "Test EHR", "--type", "confidential",
		"--redirect-uri", "https://ehr.example/callback", "--scope", "system/*.cruds")
	ehr := &ehrClient{t: t, c: newClient(p.base), origin: origin, id: ehrApp.ClientID, secret: ehrApp.ClientSecret}

	// Two patients of one clinic: the browser must only ever show the one in context. The
	// practitioner works there (a PractitionerRole), so the picker offers both; a patient of
	// another clinic is never offered.
	clinic := ehr.create("Organization", map[string]any{"name": "Portico Family Practice"})
	other := ehr.create("Organization", map[string]any{"name": "Another Clinic"})
	managed := map[string]any{"reference": "Organization/" + clinic}
	peter := demoPatient{Name: "Peter Chalmers", Family: "Chalmers", BirthDate: "1974-12-25",
		Observations: []string{"Body weight", "Hemoglobin A1c", "Systolic blood pressure"}}
	peter.ID = ehr.create("Patient", map[string]any{"name": []any{map[string]any{"family": "Chalmers", "given": []any{"Peter"}}},
		"birthDate": peter.BirthDate, "gender": "male", "managingOrganization": managed})
	amy := demoPatient{Name: "Amy Shaw", Family: "Shaw", BirthDate: "1987-02-20", Observations: []string{"Body height"}}
	amy.ID = ehr.create("Patient", map[string]any{"name": []any{map[string]any{"family": "Shaw", "given": []any{"Amy"}}},
		"birthDate": amy.BirthDate, "gender": "female", "managingOrganization": managed})
	ehr.create("Patient", map[string]any{"name": []any{map[string]any{"family": "Shawcross", "given": []any{"Olive"}}},
		"managingOrganization": map[string]any{"reference": "Organization/" + other}})
	drID := ehr.create("Practitioner", map[string]any{"name": []any{map[string]any{"family": "Careful", "given": []any{"Adam"}, "prefix": []any{"Dr"}}}})
	ehr.create("PractitionerRole", map[string]any{"practitioner": map[string]any{"reference": "Practitioner/" + drID},
		"organization": managed})

	// Observations out of date order: the demo must sort latest first.
	ehr.create("Observation", observation(peter.ID, "4548-4", "Hemoglobin A1c", "laboratory", "2024-01-10T09:00:00Z", 6.1, "%"))
	ehr.create("Observation", observation(peter.ID, "8480-6", "Systolic blood pressure", "vital-signs", "2023-03-05T10:30:00Z", 128, "mm[Hg]"))
	ehr.create("Observation", observation(peter.ID, "29463-7", "Body weight", "vital-signs", "2025-06-01T08:15:00Z", 82, "kg"))
	ehr.create("Observation", observation(amy.ID, "8302-2", "Body height", "vital-signs", "2025-02-02T11:00:00Z", 165, "cm"))

	// Messages from the care team (Practitioner senders are not triaged, so their priority
	// stays): the urgent one must come first, then the routine ones oldest first.
	pp, dr := "Patient/"+peter.ID, "Practitioner/"+drID
	ehr.create("Communication", message(pp, dr, pp, "routine", "2025-06-02T09:00:00Z", "Your lab results are in."))
	ehr.create("Communication", message(pp, dr, pp, "routine", "2025-05-01T09:00:00Z", "Welcome to the portal."))
	ehr.create("Communication", message(pp, dr, pp, "urgent", "2025-06-03T09:00:00Z", "Please call the clinic about your results."))
	ehr.create("Communication", message("Patient/"+amy.ID, dr, "Patient/"+amy.ID, "routine", "2025-06-01T09:00:00Z", "A message for Amy only."))
	amy.Messages = []string{"A message for Amy only."}
	peter.Messages = []string{"Please call the clinic about your results.", "Welcome to the portal.", "Your lab results are in."}

	password := "correct horse battery staple"
	var u struct{ Username string }
	adminJSON(t, dataDir, []string{"PORTICO_PASSWORD=" + password}, &u, "user", "create", "--username", "peter", "--fhir-user", pp)
	adminJSON(t, dataDir, []string{"PORTICO_PASSWORD=" + password}, &u, "user", "create", "--username", "drcareful", "--fhir-user", dr)

	cfg := browserConfig{Origin: origin, FHIRBase: p.base, Chromium: chromium, Shots: screenshotDir(t),
		PatientUser: demoUser{"peter", password}, StaffUser: demoUser{"drcareful", password}, Peter: peter, Amy: amy}

	runScenario := func(t *testing.T, scenario string) map[string]any {
		t.Helper()
		return runBrowserScenario(t, node, cfg, scenario)
	}
	tokenOf := func(t *testing.T, res map[string]any) (token, scope, patient string) {
		t.Helper()
		tr, _ := res["tokenResponse"].(map[string]any)
		token, _ = tr["access_token"].(string)
		scope, _ = tr["scope"].(string)
		patient, _ = tr["patient"].(string)
		if token == "" {
			t.Fatalf("no access token in %v", res)
		}
		return token, scope, patient
	}
	// status is the answer to GET path with the browser's token.
	status := func(t *testing.T, token, path string) int {
		t.Helper()
		r, err := ehr.c.do(context.Background(), http.MethodGet, path, nil, "Authorization", "Bearer "+token)
		if err != nil {
			t.Fatal(err)
		}
		return r.status
	}

	t.Run("standalone launch, Communication unticked", func(t *testing.T) {
		token, scope, patient := tokenOf(t, runScenario(t, "standalone"))
		if patient != peter.ID || strings.Contains(scope, "Communication") {
			t.Fatalf("patient %q scope %q", patient, scope)
		}
		// The browser's token is what the server enforces: no messages, own data only.
		if s := status(t, token, "Communication?patient="+peter.ID); s != http.StatusForbidden {
			t.Errorf("Communication search with the unticked scope: %d, want 403", s)
		}
		if s := status(t, token, "Observation?patient="+peter.ID); s != http.StatusOK {
			t.Errorf("Observation search: %d, want 200", s)
		}
		if s := status(t, token, "Patient/"+amy.ID); s != http.StatusNotFound {
			t.Errorf("another patient: %d, want 404 (as if it did not exist)", s)
		}
	})

	// senderOf finds the stored message with this text about patient pid, and returns its
	// sender.
	senderOf := func(t *testing.T, pid, text string) string {
		t.Helper()
		sender, ok := ehr.messageSenders(t, pid)[text]
		if !ok {
			t.Fatalf("the message %q sent in the browser is not stored for Patient/%s", text, pid)
		}
		return sender
	}

	t.Run("standalone launch, send a message", func(t *testing.T) {
		res := runScenario(t, "message")
		sent, _ := res["sent"].(string)
		if got := senderOf(t, peter.ID, sent); got != pp {
			t.Errorf("sender %q, want %s", got, pp)
		}
	})

	t.Run("EHR launch", func(t *testing.T) {
		var lr struct{ Launch string }
		ehr.postForm("/auth/launch", url.Values{"patient": {amy.ID}, "client_id": {"portico-demo"}}, false, &lr)
		cfg.Launch = lr.Launch
		token, scope, patient := tokenOf(t, runScenario(t, "ehr"))
		if patient != amy.ID || !strings.Contains(" "+scope+" ", " launch ") {
			t.Fatalf("patient %q scope %q", patient, scope)
		}
		if s := status(t, token, "Patient/"+peter.ID); s != http.StatusNotFound {
			t.Errorf("a patient outside the launch: %d, want 404 (as if it did not exist)", s)
		}
	})

	t.Run("wrong password", func(t *testing.T) { runScenario(t, "wrong-password") })

	t.Run("no JavaScript and keyboard only", func(t *testing.T) {
		_, _, patient := tokenOf(t, runScenario(t, "nojs-keyboard"))
		if patient != peter.ID {
			t.Fatalf("patient %q", patient)
		}
	})

	t.Run("practitioner picks a patient", func(t *testing.T) {
		res := runScenario(t, "picker")
		token, _, patient := tokenOf(t, res)
		if patient != amy.ID {
			t.Fatalf("patient %q, want %s", patient, amy.ID)
		}
		sent, _ := res["sent"].(string)
		if got := senderOf(t, amy.ID, sent); got != dr {
			t.Errorf("sender %q, want %s", got, dr)
		}
		if s := status(t, token, "Observation?patient="+amy.ID); s != http.StatusOK {
			t.Errorf("Observation search with the practitioner's token: %d", s)
		}
	})

	t.Run("seed script and its user", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("demo/seed.sh needs curl")
		}
		cmd := exec.Command("bash", "demo/seed.sh")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "PORTICO="+porticoBinary(t), "PORTICO_DATA_DIR="+dataDir, "BASE_URL="+p.base,
			"PORTICO_PASSWORD="+password, "DEMO_USERNAME=jamie")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("seed.sh: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "sign in as: jamie / "+password) {
			t.Errorf("seed.sh says:\n%s", out)
		}
		cfg.Seeded = seededUser{demoUser: demoUser{"jamie", password}, Name: "Jamie Rivera", Observations: 4, Messages: 2}
		runScenario(t, "seeded")
		// The seeding app is disabled once done: its secret must not stay usable.
		var apps []struct {
			Name     string `json:"name"`
			Disabled bool   `json:"disabled"`
		}
		adminJSON(t, dataDir, nil, &apps, "app", "list")
		for _, a := range apps {
			if a.Name == "Demo seeder" && !a.Disabled {
				t.Error("the seeding app is still enabled")
			}
		}
	})

	if t.Failed() {
		return
	}
	// Restarting with --demo must not register the client twice nor fail.
	p.kill()
	startSMARTPortico(t, addr, dataDir)
	var apps []struct {
		ClientID string `json:"client_id"`
	}
	adminJSON(t, dataDir, nil, &apps, "app", "list")
	n := 0
	for _, a := range apps {
		if a.ClientID == "portico-demo" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d portico-demo clients after a restart, want 1", n)
	}
}
