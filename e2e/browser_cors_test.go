package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/demo"
)

// TestBrowserCORS runs the demo app from a second origin, as a portal's own SMART app would
// be: a static file server on another port serves the demo's files with a config.json naming
// its own public client (registered with `portico admin app create`, redirect URI on that
// origin) and Portico's FHIR base. With --cors-origins naming that origin, the app signs in
// and then reads, searches and writes across origins, and can read error answers; without it,
// the same sign-in works (the SMART endpoints answer every origin) and the browser blocks
// every FHIR call.
func TestBrowserCORS(t *testing.T) {
	chromium, node := browserTools(t)
	addr, dataDir := freeAddr(t), t.TempDir()
	origin := "http://" + addr
	app := httptest.NewUnstartedServer(nil) // 127.0.0.1, another port: another origin
	appOrigin := "http://" + app.Listener.Addr().String()

	p := startServe(t, addr, "/readyz", "--data-dir", dataDir, "--log-level", "info", "--auth", "smart",
		"--cors-origins", appOrigin)
	var client struct {
		ClientID string `json:"client_id"`
	}
	adminJSON(t, dataDir, nil, &client, "app", "create", "--name", "Portal on another origin", "--type", "public",
		"--redirect-uri", appOrigin+"/demo/", "--scope", demo.Scope)
	config, _ := json.Marshal(map[string]string{"clientId": client.ClientID, "fhirBaseUrl": p.base, "redirectUri": appOrigin + "/demo/"})
	app.Config.Handler = secondOriginApp(config, origin)
	app.Start()
	t.Cleanup(app.Close)

	var ehrApp struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	adminJSON(t, dataDir, nil, &ehrApp, "app", "create", "--name", "Test EHR", "--type", "confidential",
		"--redirect-uri", "https://ehr.example/callback", "--scope", "system/*.cruds")
	ehr := &ehrClient{t: t, c: newClient(p.base), origin: origin, id: ehrApp.ClientID, secret: ehrApp.ClientSecret}
	peter := demoPatient{Name: "Peter Chalmers", Family: "Chalmers", BirthDate: "1974-12-25",
		Observations: []string{"Body weight", "Hemoglobin A1c"}, Messages: []string{"Welcome to the portal."}}
	peter.ID = ehr.create("Patient", map[string]any{"name": []any{map[string]any{"family": "Chalmers", "given": []any{"Peter"}}},
		"birthDate": peter.BirthDate})
	pp := "Patient/" + peter.ID
	drID := ehr.create("Practitioner", map[string]any{"name": []any{map[string]any{"family": "Careful"}}})
	ehr.create("Observation", observation(peter.ID, "4548-4", "Hemoglobin A1c", "laboratory", "2024-01-10T09:00:00Z", 6.1, "%"))
	ehr.create("Observation", observation(peter.ID, "29463-7", "Body weight", "vital-signs", "2025-06-01T08:15:00Z", 82, "kg"))
	ehr.create("Communication", message(pp, "Practitioner/"+drID, pp, "routine", "2025-05-01T09:00:00Z", "Welcome to the portal."))
	password := "correct horse battery staple"
	var u struct{ Username string }
	adminJSON(t, dataDir, []string{"PORTICO_PASSWORD=" + password}, &u, "user", "create", "--username", "peter", "--fhir-user", pp)

	cfg := browserConfig{Origin: origin, FHIRBase: p.base, Chromium: chromium, Shots: screenshotDir(t),
		PatientUser: demoUser{"peter", password}, Peter: peter, AppOrigin: appOrigin}

	t.Run("--cors-origins names the app's origin", func(t *testing.T) {
		res := runBrowserScenario(t, node, cfg, "cross-origin")
		sent, _ := res["sent"].(string)
		if got, ok := ehr.messageSenders(t, peter.ID)[sent]; !ok || got != pp {
			t.Errorf("the message sent from the other origin: stored %v with sender %q, want sender %s", ok, got, pp)
		}
	})

	t.Run("without --cors-origins", func(t *testing.T) {
		p.kill()
		startServe(t, addr, "/readyz", "--data-dir", dataDir, "--log-level", "info", "--auth", "smart")
		res := runBrowserScenario(t, node, cfg, "cross-origin-blocked")
		t.Logf("blocked in the browser: %v", res["corsErrors"])
		unsent, _ := res["unsent"].(string)
		if _, ok := ehr.messageSenders(t, peter.ID)[unsent]; ok {
			t.Errorf("the message %q reached Portico although the browser should have blocked it", unsent)
		}
	})
}

// secondOriginApp serves the demo app's files from the repository under /demo/, as a static
// web server of the app's own origin would, with config (its client_id, Portico's FHIR base
// and its redirect URI) as /demo/config.json. Its Content-Security-Policy lets the app connect
// to Portico's origin: that is the app's business; whether the browser then lets it read the
// answers is Portico's (CORS).
func secondOriginApp(config []byte, porticoOrigin string) http.Handler {
	files := http.StripPrefix("/demo", http.FileServer(http.Dir(filepath.Join("..", "demo", "assets"))))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self' "+porticoOrigin+"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Referrer-Policy", "no-referrer") // the authorization code is in the redirect URI's query
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/demo/config.json" {
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(config)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// TestCORSOriginsInvalid: a --cors-origins (or PORTICO_CORS_ORIGINS) that is not a list of
// origins stops `portico serve` before it listens, saying what is wrong.
func TestCORSOriginsInvalid(t *testing.T) {
	for _, tc := range []struct {
		flag, env, want string
	}{
		{flag: "https://app.example/", want: `cors-origins: \"https://app.example/\"`},
		{env: "https://app.example,https://*.example", want: `wildcards are not supported`},
		{flag: "*,https://app.example", want: `must be the only value`},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		args := []string{"serve", "--addr", freeAddr(t), "--data-dir", t.TempDir()}
		if tc.flag != "" {
			args = append(args, "--cors-origins", tc.flag)
		}
		cmd := exec.CommandContext(ctx, porticoBinary(t), args...)
		cmd.Env = append(cmd.Environ(), "PORTICO_CORS_ORIGINS="+tc.env)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || cmd.ProcessState.ExitCode() <= 0 || !strings.Contains(string(out), tc.want) {
			t.Errorf("serve with --cors-origins=%q PORTICO_CORS_ORIGINS=%q: %v, output:\n%s\nwant a failed start saying %s", tc.flag, tc.env, err, out, tc.want)
		}
	}
}
