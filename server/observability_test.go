package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/portico-health/portico/smart"
)

// obsEnv is an open Portico (--auth=none, triage on) on the embedded store with its JSON log
// kept.
type obsEnv struct {
	t   *testing.T
	ts  *httptest.Server
	srv *Server
	log *lockedBuffer
}

func newObsEnv(t *testing.T, change func(*Config)) *obsEnv {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	cfg := Defaults()
	cfg.DataDir, cfg.BaseURL, cfg.Auth = t.TempDir(), "http://"+ts.Listener.Addr().String()+"/fhir", AuthNone
	if change != nil {
		change(&cfg)
	}
	logs := &lockedBuffer{}
	srv, err := New(t.Context(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return &obsEnv{t: t, ts: ts, srv: srv, log: logs}
}

// do sends a request under the FHIR base and returns the status and body.
func (en *obsEnv) do(method, path, body string) (int, []byte) {
	en.t.Helper()
	req, err := http.NewRequestWithContext(en.t.Context(), method, en.ts.URL+"/fhir"+path, strings.NewReader(body))
	if err != nil {
		en.t.Fatal(err)
	}
	if body != "" {
		ct := "application/fhir+json"
		if method == http.MethodPatch {
			ct = "application/json-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		en.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (en *obsEnv) must(method, path, body string, want int) []byte {
	en.t.Helper()
	status, b := en.do(method, path, body)
	if status != want {
		en.t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, b)
	}
	return b
}

// scrape reads /metrics of the server at origin as Prometheus does.
func scrape(t *testing.T, origin string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(origin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not the text format: %v", err)
	}
	return fams
}

// metric sums the series of name whose labels include the pairs given (name, value, ...):
// counter and gauge values, histogram sample counts. found is false when no series matched.
func metric(fams map[string]*dto.MetricFamily, name string, labels ...string) (sum float64, found bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			ok := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					ok = true
				}
			}
			// An empty label value is how Prometheus writes an absent label.
			if !ok && labels[i+1] != "" {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

func wantMetric(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	if got, _ := metric(fams, name, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// TestMetrics: after real requests of each FHIR interaction, /metrics counts them with their
// interaction, resource type and status; store calls are timed by operation; triaged messages
// are counted by priority and category; the triage gauges count the open overdue messages and
// those for review; the Go runtime and process collectors are there.
func TestMetrics(t *testing.T) {
	en := newObsEnv(t, nil)
	var created struct{ ID string }
	_ = json.Unmarshal(en.must("POST", "/Patient", `{"resourceType":"Patient","name":[{"family":"Chalmers"}]}`, 201), &created)
	id := created.ID
	en.must("GET", "/Patient/"+id, "", 200)
	en.must("GET", "/Patient/"+id, "", 200)
	en.must("GET", "/Patient/"+id+"/_history/1", "", 200)
	en.must("GET", "/Patient?family=chalmers", "", 200)
	en.must("GET", "/Patient/"+id+"/_history", "", 200)
	en.must("PATCH", "/Patient/"+id, `[{"op":"add","path":"/gender","value":"male"}]`, 200)
	en.must("PUT", "/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`"}`, 200)
	en.must("GET", "/metadata", "", 200)
	en.must("GET", "/NoSuchType/1", "", 404)
	en.must("POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Basic","code":{"text":"x"}},"request":{"method":"POST","url":"Basic"}}]}`, 200)
	en.must("POST", "", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/`+id+`"}}]}`, 200)
	en.must("POST", "", `{"resourceType":"Bundle","type":"collection"}`, 400)
	en.must("DELETE", "/Patient/"+id, "", 204)

	// Three patient messages: a stat one, a routine one received long ago (overdue now), and
	// one in a language Portico does not serve (flagged for review).
	msg := func(text, extra string) []byte {
		return en.must("POST", "/Communication", `{"resourceType":"Communication","status":"in-progress","sender":{"reference":"Patient/p"}`+
			extra+`,"payload":[{"contentString":"`+text+`"}]}`, 201)
	}
	if b := msg("I cannot breathe", ""); !bytes.Contains(b, []byte(`"priority":"stat"`)) {
		t.Fatalf("stat message: %s", b)
	}
	msg("please send me my vaccination record", `,"received":"2020-01-06T15:00:00Z"`)
	if b := msg("Guten Tag, ich möchte bitte meine Adresse ändern lassen, danke", ""); !bytes.Contains(b, []byte(`"code":"review"`)) {
		t.Fatalf("the German message was not flagged for review: %s", b)
	}
	en.must("GET", "/Communication/$triage-stats", "", 200)

	fams := scrape(t, en.ts.URL)
	const req = "portico_http_requests_total"
	for _, c := range []struct {
		interaction, typ, code string
		n                      float64
	}{
		{"create", "Patient", "201", 1},
		{"read", "Patient", "200", 2}, // the batch's read entry is not a request of its own
		{"vread", "Patient", "200", 1},
		{"search-type", "Patient", "200", 1},
		{"history", "Patient", "200", 1},
		{"patch", "Patient", "200", 1},
		{"update", "Patient", "200", 1},
		{"delete", "Patient", "204", 1},
		{"capabilities", "", "200", 1},
		{"read", "other", "404", 1},
		{"transaction", "", "200", 1},
		{"batch", "", "200", 1},
		{"other", "", "400", 1}, // a Bundle that is neither
		{"create", "Communication", "201", 3},
		{"operation", "Communication", "200", 1},
	} {
		wantMetric(t, fams, c.n, req, "interaction", c.interaction, "resource_type", c.typ, "code", c.code)
	}
	if n, _ := metric(fams, "portico_http_request_duration_seconds", "interaction", "read"); n != 3 {
		t.Errorf("read latencies observed: %v, want 3", n)
	}
	for _, op := range []string{"read", "vread", "write", "search", "history"} {
		if n, _ := metric(fams, "portico_store_operation_duration_seconds", "operation", op); n == 0 {
			t.Errorf("no store %s timed", op)
		}
	}
	wantMetric(t, fams, 0, "portico_store_operation_failures_total")
	wantMetric(t, fams, 3, "portico_triage_messages_total")
	wantMetric(t, fams, 1, "portico_triage_messages_total", "priority", "stat")
	wantMetric(t, fams, 1, "portico_triage_overdue_messages")
	wantMetric(t, fams, 1, "portico_triage_review_messages")
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes"} {
		if _, ok := metric(fams, name); !ok {
			t.Errorf("%s is missing", name)
		}
	}
	for _, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), id) || strings.Contains(l.GetValue(), "/") && l.GetName() != "version" {
					t.Errorf("%s has the label %s=%q", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestMetricsCardinality: requests for 1,000 different ids, and for types that do not exist,
// add no series: ids are never label values, unknown types count as "other".
func TestMetricsCardinality(t *testing.T) {
	en := newObsEnv(t, func(c *Config) { c.Triage = false })
	h := en.srv.Handler()
	for i := range 1000 {
		for _, path := range []string{"/fhir/Patient/" + uuid.NewString(), fmt.Sprintf("/fhir/Type%d/x%d", i, i), fmt.Sprintf("/fhir/Patient/%d/_history/%d", i, i)} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			if w.Code != http.StatusNotFound {
				t.Fatalf("GET %s: %d", path, w.Code)
			}
		}
	}
	fams := scrape(t, en.ts.URL)
	// read and vread of Patient, read of other, all 404 (/metrics counts after this scrape).
	if n := len(fams["portico_http_requests_total"].GetMetric()); n != 3 {
		for _, m := range fams["portico_http_requests_total"].GetMetric() {
			t.Logf("%v", m.Label)
		}
		t.Errorf("%d series of portico_http_requests_total, want 3", n)
	}
	// One latency histogram per interaction, made at start.
	if n := len(fams["portico_http_request_duration_seconds"].GetMetric()); n != 15 {
		t.Errorf("%d latency histograms, want 15", n)
	}
	wantMetric(t, fams, 1000, "portico_http_requests_total", "interaction", "read", "resource_type", "Patient", "code", "404")
	wantMetric(t, fams, 1000, "portico_http_requests_total", "interaction", "read", "resource_type", "other", "code", "404")
	wantMetric(t, fams, 1000, "portico_http_requests_total", "interaction", "vread", "resource_type", "Patient", "code", "404")
}

// TestMetricsOff: --metrics=false serves no /metrics.
func TestMetricsOff(t *testing.T) {
	en := newObsEnv(t, func(c *Config) { c.Metrics = false; c.Triage = false })
	resp, err := http.Get(en.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics with --metrics=false: %d", resp.StatusCode)
	}
	if en.srv.metrics != nil {
		t.Error("metrics collected")
	}
}

// logLines decodes a JSON log.
func logLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON log line: %s", line)
		}
		out = append(out, m)
	}
	return out
}

// requestLine is the request log line of method path with status.
func requestLine(t *testing.T, lines []map[string]any, method, path string, status int) map[string]any {
	t.Helper()
	for _, l := range lines {
		if l["msg"] == "request" && l["method"] == method && l["path"] == path && l["status"] == float64(status) {
			return l
		}
	}
	t.Fatalf("no request line for %s %s %d", method, path, status)
	return nil
}

// jti reads the jti claim of a JWT without checking it.
func jti(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ JTI string }
	_ = json.Unmarshal(payload, &claims)
	if claims.JTI == "" {
		t.Fatalf("no jti in %s", payload)
	}
	return claims.JTI
}

// TestRequestLogAttribution: the request lines of token requests carry the client and what the
// token issued was for; a FHIR read with a patient's token carries its client, user, patient
// and jti; never the token, the query string or the password. A failed sign-in and a failed
// HTTP Basic client authentication log the username or client id and the address at warn.
// Token issuance and failures are counted.
func TestRequestLogAttribution(t *testing.T) {
	logs := &lockedBuffer{}
	en := newAuthEnvLog(t, slog.New(slog.NewJSONHandler(logs, nil)), nil)
	sys := en.systemToken("system/Patient.cruds")
	en.must(sys, "PUT", "/Patient/p1", `{"resourceType":"Patient","id":"p1","name":[{"family":"Zebediah"}]}`, 201)
	pt := en.patientToken("p1", "launch/patient patient/*.rs")
	en.must(pt, "GET", "/Patient/p1?_elements=name", "", 200)

	// A wrong password on the sign-in page.
	c, _, err := en.reg.CreateClient(t.Context(), smart.Client{Name: "app", Type: smart.ClientPublic,
		RedirectURIs: []string{"https://app.example/cb"}, Scope: "patient/*.rs"})
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {"https://app.example/cb"},
		"scope": {"patient/*.rs"}, "state": {"s"}, "aud": {en.base},
		"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
	resp, err := http.Get(en.authURL("/authorize?") + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	login := formWithStep(t, string(page), "login")
	login.Set("username", "mallory")
	login.Set("password", "not-her-password-42")
	req, _ := http.NewRequest("POST", en.authURL("/authorize"), strings.NewReader(login.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", strings.TrimSuffix(en.base, "/fhir"))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}

	// A wrong client secret (HTTP Basic) at the token endpoint.
	req, _ = http.NewRequest("POST", en.authURL("/token"), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("no-such-client", "wrong-secret-77")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong client secret: %d", resp.StatusCode)
	}

	log := logs.String()
	for _, secret := range []string{sys, pt, "not-her-password-42", "wrong-secret-77", "_elements", "Zebediah"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	lines := logLines(t, log)
	var tokenLines []map[string]any
	for _, l := range lines {
		if l["msg"] == "request" && l["path"] == "/auth/token" && l["status"] == float64(200) {
			tokenLines = append(tokenLines, l)
		}
	}
	if len(tokenLines) != 2 {
		t.Fatalf("%d token request lines, want 2", len(tokenLines))
	}
	if l := tokenLines[0]; l["client_id"] == nil || l["client_id"] == "" || l["jti"] != jti(t, sys) || l["patient"] != nil {
		t.Errorf("client_credentials token line: %v", l)
	}
	if l := tokenLines[1]; l["client_id"] == nil || l["user"] != "Patient/p1" || l["patient"] != "p1" || l["jti"] != jti(t, pt) {
		t.Errorf("authorization_code token line: %v", l)
	}
	read := requestLine(t, lines, "GET", "/fhir/Patient/p1", 200)
	if read["client_id"] != tokenLines[1]["client_id"] || read["user"] != "Patient/p1" || read["patient"] != "p1" ||
		read["jti"] != jti(t, pt) || read["client"] != "127.0.0.1" {
		t.Errorf("read line: %v", read)
	}
	var signIn, basic map[string]any
	for _, l := range lines {
		switch l["msg"] {
		case "sign-in failed":
			signIn = l
		case "client authentication failed":
			basic = l
		}
	}
	if signIn == nil || signIn["level"] != "WARN" || signIn["username"] != "mallory" || signIn["addr"] != "127.0.0.1" {
		t.Errorf("failed sign-in line: %v", signIn)
	}
	if basic == nil || basic["level"] != "WARN" || basic["client_id"] != "no-such-client" || basic["addr"] != "127.0.0.1" {
		t.Errorf("failed client authentication line: %v", basic)
	}

	fams := scrape(t, en.ts.URL)
	wantMetric(t, fams, 1, "portico_auth_tokens_issued_total", "grant_type", "client_credentials")
	wantMetric(t, fams, 1, "portico_auth_tokens_issued_total", "grant_type", "authorization_code")
	wantMetric(t, fams, 1, "portico_auth_token_failures_total", "grant_type", "client_credentials", "error", "invalid_client")
	wantMetric(t, fams, 1, "portico_http_requests_total", "interaction", "read", "resource_type", "Patient", "code", "200")
}

// TestServerErrorLogged: a 5xx (the store closed under the server) logs its cause with the
// identifiers redacted, in the request line and the error handler's.
func TestServerErrorLogged(t *testing.T) {
	en := newObsEnv(t, func(c *Config) { c.Triage = false })
	var created struct{ ID string }
	_ = json.Unmarshal(en.must("POST", "/Patient", `{"resourceType":"Patient"}`, 201), &created)
	if err := en.srv.Store().Close(); err != nil {
		t.Fatal(err)
	}
	status, _ := en.do("GET", "/Patient/"+created.ID+"?name=secret", "")
	if status < 500 {
		t.Fatalf("read from a closed store: %d", status)
	}
	log := en.log.String()
	line := requestLine(t, logLines(t, log), "GET", "/fhir/Patient/"+created.ID, status)
	msg, _ := line["error"].(string)
	if line["level"] != "ERROR" || msg == "" {
		t.Errorf("the 5xx line has no error: %v", line)
	}
	var failed map[string]any
	for _, l := range logLines(t, log) {
		if l["msg"] == "request failed" {
			failed = l
		}
	}
	if failed == nil || failed["error"] != msg || failed["cause_types"] == nil {
		t.Errorf("request failed line: %v (request line error %q)", failed, msg)
	}
	if strings.Contains(log, "secret") || strings.Contains(msg, created.ID) {
		t.Errorf("the log holds the query or the id: %s", log)
	}
	t.Logf("logged cause: %s", msg)
}
