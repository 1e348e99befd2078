package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMongoDownAtStart starts Portico on a MongoDB that does not run yet: it must listen
// anyway, answer /healthz 200, /readyz 503 and every FHIR request with a 503 OperationOutcome,
// then serve normally, without a restart, once MongoDB is started.
func TestMongoDownAtStart(t *testing.T) {
	requireMongoJar(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mport := ln.Addr().(*net.TCPAddr).Port
	addr := freeAddr(t) // while the MongoDB port is held, so that Portico cannot be given it
	_ = ln.Close()      // nothing listens there until the Java server is started below

	// The driver's defaults (no serverSelectionTimeoutMS in the URI), as a user would run it.
	uri := fmt.Sprintf("mongodb://127.0.0.1:%d/portico_e2e", mport)
	started := time.Now()
	p := startPorticoMongo(t, addr, uri, false)
	if d := time.Since(started); d > 15*time.Second {
		t.Errorf("Portico took %v to listen with MongoDB down", d)
	}
	ctx := t.Context()
	if s := httpStatusOf(ctx, "http://"+addr+"/readyz"); s != http.StatusServiceUnavailable {
		t.Errorf("/readyz with MongoDB down: %d, want 503", s)
	}
	c := newClient(p.base)
	patient := []byte(`{"resourceType":"Patient","name":[{"family":"Early"}]}`)
	for _, req := range []struct{ method, path string }{
		{http.MethodPost, "Patient"},
		{http.MethodGet, "Patient/x"},
		{http.MethodGet, "Patient?name=Early"},
		{http.MethodGet, "metadata"},
	} {
		var body []byte
		if req.method == http.MethodPost {
			body = patient
		}
		r, err := c.do(ctx, req.method, req.path, body)
		if err != nil {
			t.Fatal(err)
		}
		checkMongoUnavailable(t, req.method+" "+req.path, r)
	}
	log := p.log.String()
	if !strings.Contains(log, "MongoDB unreachable at start") || !strings.Contains(log, fmt.Sprintf("127.0.0.1:%d", mport)) {
		t.Errorf("the log does not say that MongoDB at 127.0.0.1:%d is unreachable:\n%s", mport, log)
	}

	startJavaMongo(t, mport)
	deadline := time.Now().Add(60 * time.Second)
	for httpStatusOf(ctx, "http://"+addr+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 200 within 60 s of MongoDB starting")
		}
		time.Sleep(100 * time.Millisecond)
	}
	r, err := c.do(ctx, http.MethodPost, "Patient", patient)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusCreated {
		t.Fatalf("create after MongoDB started: %d %s", r.status, r.body)
	}
	id, v, err := written(r)
	if err != nil || v != 1 {
		t.Fatalf("create: version %d, %v", v, err)
	}
	r, err = c.do(ctx, http.MethodGet, "Patient/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"Early"`) {
		t.Fatalf("read after MongoDB started: %d %s", r.status, r.body)
	}
	if !strings.Contains(p.log.String(), "serving the FHIR API") {
		t.Errorf("the log does not say when the FHIR API became available:\n%s", p.log.String())
	}
}

// checkMongoUnavailable asserts a 503 with an OperationOutcome of issue code transient.
func checkMongoUnavailable(t *testing.T, what string, r response) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("%s with MongoDB down: %d %s, want 503", what, r.status, r.body)
		return
	}
	var oo struct {
		ResourceType string
		Issue        []struct{ Severity, Code string }
	}
	if err := json.Unmarshal(r.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" ||
		len(oo.Issue) == 0 || oo.Issue[0].Code != "transient" {
		t.Errorf("%s with MongoDB down: body %s, want an OperationOutcome with issue code transient", what, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("%s with MongoDB down: Content-Type %q", what, ct)
	}
}
