package smart

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

func (en *env) putResource(typ, id, body string) {
	en.t.Helper()
	r, err := fhir.ParseResource([]byte(body))
	if err != nil {
		en.t.Fatal(err)
	}
	idx, err := fhir.ExtractIndex(r)
	if err != nil {
		en.t.Fatal(err)
	}
	if err := en.st.Write(en.t.Context(), store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1,
		LastUpdated: time.Now().UTC(), Body: []byte(body), Index: idx}); err != nil {
		en.t.Fatal(err)
	}
}

// launchHandle asks /auth/launch for a handle with bearer token tok.
func (en *env) launchHandle(tok string, form url.Values) (int, map[string]any) {
	en.t.Helper()
	req, _ := http.NewRequestWithContext(en.t.Context(), http.MethodPost, en.ts.URL+"/auth/launch", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := en.ts.Client().Do(req)
	if err != nil {
		en.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = jsonDecode(resp, &m)
	return resp.StatusCode, m
}

func TestEHRLaunch(t *testing.T) {
	en := newEnv(t)
	en.putResource("Patient", "p1", `{"resourceType":"Patient","id":"p1","name":[{"text":"Ann Smith"}],"managingOrganization":{"reference":"Organization/o1"}}`)
	en.staffAt("d1", "o1")
	en.putResource("Encounter", "e1", `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"}}`)
	reg := en.srv.Registry()
	for _, u := range [][3]string{{"drsmith", "doctor password", "Practitioner/d1"}, {"bob", "bob's password", "Patient/p2"}} {
		if _, err := reg.CreateUser(t.Context(), u[0], u[1], u[2]); err != nil {
			t.Fatal(err)
		}
	}
	ehrTok, _ := en.backendAccessToken("system/Patient.rs system/Encounter.rs")
	a := en.newApp(ClientConfidential, "")
	status, body := en.launchHandle(ehrTok, url.Values{"patient": {"p1"}, "encounter": {"e1"}, "client_id": {a.client.ID}})
	if status != 200 {
		t.Fatalf("launch: %d %v", status, body)
	}
	handle := body["launch"].(string)

	scopes := []string{"launch", "openid", "fhirUser", "patient/*.rs"}
	verifier := oauth2.GenerateVerifier()
	redirect := en.browser().authorize(a, flow{scopes: scopes, username: "drsmith", password: "doctor password", verifier: verifier,
		extra: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("launch", handle)}})
	tok, err := a.cfg.Exchange(en.ctx(), redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	ctxs, _ := tok.Extra("fhirContext").([]any)
	if tok.Extra("patient") != "p1" || tok.Extra("encounter") != "e1" || tok.Extra("need_patient_banner") != false ||
		len(ctxs) != 1 || ctxs[0].(map[string]any)["reference"] != "Encounter/e1" || !strings.Contains(tok.Extra("scope").(string), "launch") {
		t.Errorf("token %v", tok)
	}

	t.Run("launch needs a token that may read the patient", func(t *testing.T) {
		if status, _ := en.launchHandle("", url.Values{"patient": {"p1"}}); status != http.StatusUnauthorized {
			t.Errorf("no token: %d", status)
		}
		obsOnly, _ := en.backendAccessToken("system/Observation.rs")
		if status, body := en.launchHandle(obsOnly, url.Values{"patient": {"p1"}}); status != http.StatusForbidden {
			t.Errorf("no Patient scope: %d %v", status, body)
		}
		if status, _ := en.launchHandle(ehrTok, url.Values{"patient": {"nobody"}}); status != http.StatusBadRequest {
			t.Errorf("unknown patient: %d", status)
		}
		if status, _ := en.launchHandle(ehrTok, url.Values{}); status != http.StatusBadRequest {
			t.Errorf("no patient: %d", status)
		}
	})

	// The encounter is read as the EHR's token reads it: one it may not read answers exactly as
	// one that does not exist (no oracle), and it must be the patient's.
	t.Run("launch encounter", func(t *testing.T) {
		en.putResource("Encounter", "e2", `{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"}}`)
		patientOnly, _ := en.backendAccessToken("system/Patient.rs")
		hiddenStatus, hidden := en.launchHandle(patientOnly, url.Values{"patient": {"p1"}, "encounter": {"e1"}})
		missingStatus, missing := en.launchHandle(patientOnly, url.Values{"patient": {"p1"}, "encounter": {"nothing"}})
		if hiddenStatus != http.StatusBadRequest || missingStatus != http.StatusBadRequest ||
			strings.ReplaceAll(fmt.Sprint(hidden), "e1", "X") != strings.ReplaceAll(fmt.Sprint(missing), "nothing", "X") {
			t.Errorf("hidden encounter %d %v, missing %d %v", hiddenStatus, hidden, missingStatus, missing)
		}
		if status, body := en.launchHandle(ehrTok, url.Values{"patient": {"p1"}, "encounter": {"e2"}}); status != http.StatusBadRequest ||
			!strings.Contains(fmt.Sprint(body), "not an encounter of Patient/p1") {
			t.Errorf("another patient's encounter: %d %v", status, body)
		}
	})

	start := func(app app, h string) *url.URL {
		app.cfg.Scopes = scopes
		p := en.browser().get(app.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
			oauth2.SetAuthURLParam("aud", en.srv.audience), oauth2.SetAuthURLParam("launch", h)))
		u, _ := url.Parse(p.location)
		return u
	}
	t.Run("unknown handle", func(t *testing.T) {
		if u := start(a, "made-up"); u.Query().Get("error") != "invalid_request" {
			t.Errorf("redirect %v", u)
		}
	})
	t.Run("handle of another app", func(t *testing.T) {
		other := en.newApp(ClientPublic, "")
		if u := start(other, handle); u.Query().Get("error") != "invalid_request" {
			t.Errorf("redirect %v", u)
		}
	})
	t.Run("expired handle", func(t *testing.T) {
		en.advance(6 * time.Minute)
		defer en.advance(-6 * time.Minute)
		if u := start(a, handle); u.Query().Get("error") != "invalid_request" {
			t.Errorf("redirect %v", u)
		}
	})
	t.Run("a patient user cannot be launched into another patient", func(t *testing.T) {
		a.cfg.Scopes = scopes
		b := en.browser()
		p := b.get(a.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
			oauth2.SetAuthURLParam("aud", en.srv.audience), oauth2.SetAuthURLParam("launch", handle)))
		login, _ := p.form("login")
		login.fields.Set("username", "bob")
		login.fields.Set("password", "bob's password")
		p = b.submit(login)
		u, _ := url.Parse(p.location)
		if u.Query().Get("error") != "access_denied" {
			t.Errorf("got %d %s", p.status, p.location)
		}
	})
}

// TestLaunchRateLimited: each launch writes a record, so launches take from --auth-rate-limit
// (per address, and per client and user): one patient's token wrote 400 a second (blind
// attack, round 8).
func TestLaunchRateLimited(t *testing.T) {
	en := newEnvConfig(t, t.TempDir(), func(c *Config) { c.RateLimit = 2 }) // bursts of 4
	en.putResource("Patient", "p1", `{"resourceType":"Patient","id":"p1"}`)
	tok, _ := en.backendAccessToken("system/Patient.rs") // one request of the address's burst
	for i := range 3 {
		if status, body := en.launchHandle(tok, url.Values{"patient": {"p1"}}); status != http.StatusOK {
			t.Fatalf("launch %d of the burst: %d %v", i+1, status, body)
		}
	}
	if status, body := en.launchHandle(tok, url.Values{"patient": {"p1"}}); status != http.StatusTooManyRequests {
		t.Errorf("a launch past the burst: %d %v, want 429", status, body)
	}
}

// TestLaunchNotForPatients: a token acting for a patient makes no EHR launch (403).
func TestLaunchNotForPatients(t *testing.T) {
	en := newEnv(t)
	en.putResource("Patient", "p1", `{"resourceType":"Patient","id":"p1"}`)
	if _, err := en.srv.Registry().CreateUser(t.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	a := en.newApp(ClientPublic, "")
	code, verifier := en.code(a, flow{})
	tok, err := a.cfg.Exchange(en.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := en.launchHandle(tok.AccessToken, url.Values{"patient": {"p1"}}); status != http.StatusForbidden {
		t.Errorf("a patient's own token: %d %v, want 403", status, body)
	}
}
