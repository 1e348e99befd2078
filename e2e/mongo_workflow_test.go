package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
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
