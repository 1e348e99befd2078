package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store/intent"
)

// TestMongoWorkflows: the workflows that write several resources work on a MongoDB without
// multi-document transactions (mongo-java-server): a stat patient message is stored with its
// automatic reply, an answer completes the message, a transaction Bundle of one patient
// message works, and the CapabilityStatement does not advertise what the deployment refuses.
func TestMongoWorkflows(t *testing.T) {
	requireMongoJar(t)
	mongoAddr := startJavaMongo(t, 0)
	addr := freeAddr(t)
	p := startPorticoMongo(t, addr, "mongodb://"+mongoAddr+"/portico_workflows", true)
	c := newClient(p.base)
	ctx := t.Context()
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		r, err := c.do(ctx, method, path, b)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, want, r.body)
		}
		var m map[string]any
		_ = json.Unmarshal(r.body, &m)
		return m
	}

	md := call(http.MethodGet, "metadata", "", http.StatusOK)
	raw, _ := json.Marshal(md["rest"])
	if strings.Contains(string(raw), `"code":"transaction"`) || !strings.Contains(string(raw), `"code":"batch"`) {
		t.Errorf("CapabilityStatement system interactions on a deployment without transactions: %s", raw)
	}

	msg := call(http.MethodPost, "Communication", `{"resourceType":"Communication","status":"in-progress",
		"sender":{"reference":"Patient/p1"},"recipient":[{"reference":"Practitioner/d1"}],
		"payload":[{"contentString":"crushing chest pain and I can't breathe"}]}`, http.StatusCreated)
	if msg["priority"] != "stat" {
		t.Fatalf("priority %v", msg["priority"])
	}
	var reply string
	for _, e := range msg["extension"].([]any) {
		if m := e.(map[string]any); strings.HasSuffix(m["url"].(string), "/triage-auto-reply") {
			reply = m["valueReference"].(map[string]any)["reference"].(string)
		}
	}
	if reply == "" {
		t.Fatalf("no automatic reply on a stat message: %v", msg)
	}
	if r := call(http.MethodGet, reply, "", http.StatusOK); r["status"] != "completed" {
		t.Errorf("reply %v", r)
	}
	id := msg["id"].(string)
	call(http.MethodPost, "Communication", `{"resourceType":"Communication","status":"completed",
		"inResponseTo":[{"reference":"Communication/`+id+`"}],"sender":{"reference":"Practitioner/d1"},
		"recipient":[{"reference":"Patient/p1"}],"payload":[{"contentString":"Calling you now."}]}`, http.StatusCreated)
	if got := call(http.MethodGet, "Communication/"+id, "", http.StatusOK); got["status"] != "completed" {
		t.Errorf("the answered message is %v", got["status"])
	}

	// A transaction of one patient message: one client write and the hook's follow-ups.
	b := call(http.MethodPost, "", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:2f0c7a4e-0000-4000-8000-000000000001",
		"resource":{"resourceType":"Communication","status":"in-progress","sender":{"reference":"Patient/p1"},
		"payload":[{"contentString":"my lips and tongue are swelling after peanuts"}]},"request":{"method":"POST","url":"Communication"}}]}`, http.StatusOK)
	if st := b["entry"].([]any)[0].(map[string]any)["response"].(map[string]any)["status"]; !strings.HasPrefix(st.(string), "201") {
		t.Errorf("transaction entry %v", st)
	}
	// Two client writes need a transaction the deployment does not have: 501, nothing written.
	o := call(http.MethodPost, "", `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient","name":[{"family":"TxOne"}]},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Patient","name":[{"family":"TxTwo"}]},"request":{"method":"POST","url":"Patient"}}]}`, http.StatusNotImplemented)
	if o["resourceType"] != "OperationOutcome" {
		t.Errorf("501 without an OperationOutcome: %v", o)
	}
	if s := call(http.MethodGet, "Patient?family=TxOne", "", http.StatusOK); s["total"] != nil && s["total"].(float64) != 0 {
		t.Errorf("a refused transaction wrote: %v", s)
	}
	if strings.Contains(p.log.String(), "status=500") {
		t.Errorf("a request answered 500:\n%s", p.log.String())
	}
}

// TestMongoSMART: the built-in authorization server on MongoDB without transactions: apps and
// users made by `portico admin --store`, a sign-in with PKCE, the patient's data and only
// theirs, a refresh, introspection, and a disabled user's token refused.
func TestMongoSMART(t *testing.T) {
	requireMongoJar(t)
	uri := "mongodb://" + startJavaMongo(t, 0) + "/portico_smart"
	addr := freeAddr(t)
	dataDir := t.TempDir()
	startServe(t, addr, "/readyz", "--store", uri, "--data-dir", dataDir, "--auth", "smart")
	admin := func(env []string, out any, args ...string) {
		t.Helper()
		adminJSON(t, dataDir, env, out, append(args, "--store", uri)...)
	}
	const redirect = "https://app.example/callback"
	var app, rs, sys authApp
	admin(nil, &app, "app", "create", "--name", "Portal", "--type", "confidential",
		"--redirect-uri", redirect, "--scope", "offline_access launch/patient patient/*.rs")
	admin(nil, &rs, "app", "create", "--name", "API", "--type", "resource-server")
	admin(nil, &sys, "app", "create", "--name", "EHR", "--type", "confidential", "--redirect-uri", redirect, "--scope", "system/*.cruds")
	password := "correct horse battery staple"
	var u struct{ Username string }
	admin([]string{"PORTICO_PASSWORD=" + password}, &u, "user", "create", "--username", "alice", "--fhir-user", "Patient/p1")

	a := newAuthClient(t, "http://"+addr)
	st := a.token(sys, url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.cruds"}}, http.StatusOK)["access_token"].(string)
	c := newClient(a.origin + "/fhir")
	for _, p := range []string{"p1", "p2"} {
		r, err := c.do(t.Context(), http.MethodPut, "Patient/"+p, []byte(`{"resourceType":"Patient","id":"`+p+`"}`), "Authorization", "Bearer "+st)
		if err != nil || r.status != http.StatusCreated {
			t.Fatalf("PUT Patient/%s: %v %d %s", p, err, r.status, r.body)
		}
	}

	tok := a.signIn(app, redirect, "offline_access launch/patient patient/*.rs", "alice", password)
	at := tok["access_token"].(string)
	if tok["patient"] != "p1" {
		t.Errorf("token patient %v", tok["patient"])
	}
	if s := a.fhirStatus(at, "Patient/p1"); s != http.StatusOK {
		t.Errorf("own Patient: %d", s)
	}
	if s := a.fhirStatus(at, "Patient/p2"); s != http.StatusNotFound {
		t.Errorf("another patient: %d, want 404", s)
	}
	if m := a.introspect(rs, at); m["active"] != true {
		t.Errorf("introspection %v", m)
	}
	refreshed := a.token(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, http.StatusOK)
	if s := a.fhirStatus(refreshed["access_token"].(string), "Patient/p1"); s != http.StatusOK {
		t.Errorf("refreshed token: %d", s)
	}
	var out map[string]any
	admin(nil, &out, "user", "disable", "--username", "alice")
	if d := a.waitRefused(refreshed["access_token"].(string), time.Now()); d > 5*time.Second+500*time.Millisecond {
		t.Errorf("a disabled user's token was refused %v later, want within 5 s", d)
	}
}

// TestMongoCrashRecovery kills Portico between the steps of a sequence (the failpoint of
// store/intent exits the process right after a stat message is written, before its automatic
// reply), restarts it on the same MongoDB, and finds the message with its reply exactly once
// once the recovery sweep has run (intents older than two minutes, swept every minute).
func TestMongoCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the recovery sweep (up to three minutes)")
	}
	requireMongoJar(t)
	uri := "mongodb://" + startJavaMongo(t, 0) + "/portico_crash"
	addr := freeAddr(t)
	t.Setenv(intent.FailpointEnv, "exit-after-commit")
	p := startPorticoMongo(t, addr, uri, true)
	c := newClient(p.base)
	msg := `{"resourceType":"Communication","status":"in-progress","sender":{"reference":"Patient/p1"},
		"payload":[{"contentString":"crushing chest pain, I can't breathe (crash test)"}]}`
	if r, err := c.do(t.Context(), http.MethodPost, "Communication", []byte(msg)); err == nil && r.status < 500 {
		t.Fatalf("the failpoint did not stop the process: %d %s", r.status, r.body)
	}
	if code, err := p.wait(t.Context(), 10*time.Second); err != nil || code != 3 {
		t.Fatalf("exit %d %v, want the failpoint's 3", code, err)
	}
	os.Unsetenv(intent.FailpointEnv)
	p = startPorticoMongo(t, addr, uri, true)
	c = newClient(p.base)
	deadline := time.Now().Add(200 * time.Second)
	for {
		r, err := c.do(t.Context(), http.MethodGet, "Communication?_count=50", nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("search: %v %d", err, r.status)
		}
		var b struct {
			Entry []struct{ Resource map[string]any }
		}
		_ = json.Unmarshal(r.body, &b)
		var messages, replies int
		for _, e := range b.Entry {
			if e.Resource["inResponseTo"] != nil {
				replies++
			} else {
				messages++
			}
		}
		if messages != 1 {
			t.Fatalf("%d messages after the crash, want the one whose first write applied", messages)
		}
		if replies == 1 {
			break
		}
		if replies > 1 || time.Now().After(deadline) {
			t.Fatalf("%d replies after %v", replies, 200*time.Second)
		}
		time.Sleep(2 * time.Second)
	}
	if !strings.Contains(p.log.String(), "recovered a follow-up write") {
		t.Errorf("the log does not say the reply was recovered:\n%s", p.log.String())
	}
}
