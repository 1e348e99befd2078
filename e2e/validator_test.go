package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/conformance"
	"github.com/portico-health/portico/internal/fhirvalidator"
)

// TestOfficialValidator runs the conformance suite against a Portico child process through a
// recording transport, adds requests the suite does not make (triaged messages and their
// automatic replies, _include and _revinclude, paging, history at every level, $triage-stats,
// _summary and _elements, transaction and batch answers, FHIRPath Patch, errors), and has the
// official validator's engine (HAPI FHIR, tools/fhir-validator, offline, with Portico's own
// definitions from definitions/package when that folder exists) judge every FHIR resource
// Portico answered with: resources, Bundles, OperationOutcomes, Parameters and the
// CapabilityStatement. One error fails the test; warnings are listed in its log, counted by
// message.
func TestOfficialValidator(t *testing.T) {
	jar := filepath.Join("..", fhirvalidator.Jar)
	fhirvalidator.Need(t, jar)
	p := startPortico(t, freeAddr(t), t.TempDir())
	rec := &recorder{next: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: rec}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	rep := conformance.Run(ctx, conformance.Options{BaseURL: p.base, Client: hc})
	for _, r := range rep.Results {
		if r.Status == conformance.Fail {
			t.Errorf("conformance %s/%s failed: %s", r.Section, r.Name, r.Detail)
		}
	}
	suiteAnswers := len(rec.exchanges())
	extraRequests(t, ctx, &client{base: p.base, hc: hc})

	var answers []exchange
	var bodies [][]byte
	seen := map[string]bool{}
	for _, x := range rec.exchanges() {
		if !x.isFHIRResource() || seen[string(x.body)] {
			continue
		}
		seen[string(x.body)] = true
		answers, bodies = append(answers, x), append(bodies, x.body)
	}
	t.Logf("%d answers to the conformance suite, %d to the extra requests; %d distinct FHIR resources to validate",
		suiteAnswers, len(rec.exchanges())-suiteAnswers, len(bodies))
	if len(bodies) < 200 {
		t.Fatalf("only %d resources recorded: the suite or the recorder is broken", len(bodies))
	}
	pkg := filepath.Join("..", fhirvalidator.Package)
	_, err := os.Stat(pkg)
	published := err == nil
	if published {
		t.Logf("Portico's definitions loaded from %s: an extension of Portico's they do not define is an error", fhirvalidator.Package)
	} else {
		t.Logf("no %s yet: Portico's extensions are only reported unknown", fhirvalidator.Package)
	}
	results, err := fhirvalidator.Validate(jar, []string{pkg}, bodies)
	if err != nil {
		t.Fatal(err)
	}

	types := map[string]int{}
	warnings := map[string]int{}
	errorCount := 0
	for i, res := range results {
		x := answers[i]
		types[x.resourceType()]++
		history := x.bundleType() == "history"
		var errs []string
		for _, is := range res.Issues {
			switch {
			case history && is.MessageID == "Bundle_BUNDLE_MultipleMatches":
				// A history Bundle holds every version of a resource under one fullUrl (bdl-8
				// forbids a version in it), so a reference to the resource matches them all;
				// bundle.html#references calls that ambiguous and lets applications report it.
				// Nothing a server can change: listed with the warnings.
				warnings["(history Bundle) "+normalizeIssue(is.Message)]++
			case is.IsError(), published && ownDefinitionMissing(is):
				errs = append(errs, is.String())
			case is.Severity == "warning":
				warnings[normalizeIssue(is.Message)]++
			}
		}
		if len(errs) > 0 {
			errorCount++
			if errorCount <= 40 {
				t.Errorf("%s → %d: the validator found errors:\n  %s\n%s", x.request, x.status,
					strings.Join(errs, "\n  "), truncate(x.body, 3000))
			}
		}
	}
	if errorCount > 40 {
		t.Errorf("... %d answers with errors in all", errorCount)
	}
	t.Logf("validated by resource type: %v", types)
	type count struct {
		msg string
		n   int
	}
	var ws []count
	for m, n := range warnings {
		ws = append(ws, count{m, n})
	}
	slices.SortFunc(ws, func(a, b count) int { return b.n - a.n })
	var log strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&log, "\n%6d× %s", w.n, w.msg)
	}
	t.Logf("warnings (%d distinct):%s", len(ws), log.String())
}

// ownDefinitionMissing is an issue the validator reports only as information, which is an error
// once Portico publishes its definitions (definitions/package): an extension of Portico's that
// the package does not define.
func ownDefinitionMissing(is fhirvalidator.Issue) bool {
	return strings.HasPrefix(is.MessageID, "Extension_EXT_Unknown") && portiCanonical.MatchString(is.Message)
}

var portiCanonical = regexp.MustCompile(`https?://portico\.health/`)

// normalizeIssue makes the messages of one kind of warning equal: they name resource ids.
func normalizeIssue(msg string) string {
	return resourceID.ReplaceAllString(msg, "{id}")
}

var resourceID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + fmt.Sprintf("... (%d bytes)", len(b))
}

// extraRequests makes the exchanges the conformance suite does not: Portico's own resources
// (triaged messages with their extensions, automatic replies, answers), includes, paging, every
// level of history, operations, subsets, Bundles and errors.
func extraRequests(t *testing.T, ctx context.Context, c *client) {
	t.Helper()
	create := func(typ string, res map[string]any) string {
		t.Helper()
		res["resourceType"] = typ
		body, _ := json.Marshal(res)
		r, err := c.do(ctx, http.MethodPost, typ, body)
		if err != nil || r.status != http.StatusCreated {
			t.Fatalf("POST %s: %v %d %s", typ, err, r.status, r.body)
		}
		id, _, err := written(r)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	get := func(path string, want int) []byte {
		t.Helper()
		r, err := c.do(ctx, http.MethodGet, path, nil)
		if err != nil || r.status != want {
			t.Fatalf("GET %s: %v %d, want %d: %.500s", path, err, r.status, want, r.body)
		}
		return r.body
	}
	send := func(method, path string, body string, want int, hdr ...string) []byte {
		t.Helper()
		r, err := c.do(ctx, method, path, []byte(body), hdr...)
		if err != nil || r.status != want {
			t.Fatalf("%s %s: %v %d, want %d: %.500s", method, path, err, r.status, want, r.body)
		}
		return r.body
	}
	ref := func(typ, id string) map[string]any { return map[string]any{"reference": typ + "/" + id} }

	org := create("Organization", map[string]any{"name": "Riverside Clinic", "active": true})
	dr := create("Practitioner", map[string]any{"name": []any{map[string]any{"family": "Young", "given": []any{"Yara"}}}})
	create("PractitionerRole", map[string]any{"practitioner": ref("Practitioner", dr), "organization": ref("Organization", org)})
	pat := create("Patient", map[string]any{
		"name":                 []any{map[string]any{"family": "Chalmers", "given": []any{"Peter"}}},
		"gender":               "male",
		"birthDate":            "1974-12-25",
		"managingOrganization": ref("Organization", org),
		"generalPractitioner":  []any{ref("Practitioner", dr)},
	})
	for i, v := range []float64{72, 80, 91} {
		create("Observation", map[string]any{
			"status":            "final",
			"category":          []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}}}},
			"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}}},
			"subject":           ref("Patient", pat),
			"effectiveDateTime": fmt.Sprintf("2026-01-1%dT09:00:00Z", i),
			"valueQuantity":     map[string]any{"value": v, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"},
		})
	}
	// A patient's message: triaged (priority, category, reasons, language, due time, routing)
	// and, being an emergency, answered at once by an automatic reply.
	msg := create("Communication", map[string]any{
		"status":    "in-progress",
		"subject":   ref("Patient", pat),
		"sender":    ref("Patient", pat),
		"recipient": []any{ref("Practitioner", dr)},
		"priority":  "routine",
		"payload":   []any{map[string]any{"contentString": "I have crushing chest pain spreading to my left arm and I can't breathe"}},
	})
	routine := create("Communication", map[string]any{
		"status":  "in-progress",
		"subject": ref("Patient", pat),
		"sender":  ref("Patient", pat),
		"payload": []any{map[string]any{"contentString": "Could you renew my prescription for lisinopril please?"}},
	})
	// A clinician's answer completes the message (the triage-response extension).
	create("Communication", map[string]any{
		"status":       "completed",
		"subject":      ref("Patient", pat),
		"sender":       ref("Practitioner", dr),
		"recipient":    []any{ref("Patient", pat)},
		"inResponseTo": []any{ref("Communication", routine)},
		"payload":      []any{map[string]any{"contentString": "Renewed, you can pick it up tomorrow."}},
	})
	get("Communication/"+msg, http.StatusOK)
	get("Communication/"+routine, http.StatusOK)
	get("Communication?subject=Patient/"+pat+"&_include=Communication:sender&_include=Communication:recipient&_sort=-sent", http.StatusOK)
	get("Communication?status=in-progress&_sort=priority,due", http.StatusOK)
	get("Communication/$triage-stats", http.StatusOK)
	get("Communication/$triage-stats?recipient=Practitioner/"+dr+"&period="+time.Now().UTC().Format("2006-01"), http.StatusOK)
	get("Communication/$triage-stats?period=not-a-period", http.StatusBadRequest)

	get("Patient?_id="+pat+"&_revinclude=Observation:subject&_revinclude=Communication:subject&_include=Patient:organization&_include=Patient:general-practitioner", http.StatusOK)
	get("Observation?subject=Patient/"+pat+"&_include=Observation:subject&_include:iterate=Patient:organization", http.StatusOK)
	get("Practitioner?_has:PractitionerRole:practitioner:organization=Organization/"+org, http.StatusOK)
	get("PractitionerRole?_include=PractitionerRole:practitioner&_include=PractitionerRole:organization", http.StatusOK)
	get("Patient?name:contains=halm&birthdate=ge1970&_total=accurate", http.StatusOK)
	get("?_type=Patient,Practitioner", http.StatusOK)
	get("Observation?_summary=count", http.StatusOK)
	get("Observation?_summary=true&_sort=date", http.StatusOK)
	get("Observation?_elements=code,value&subject=Patient/"+pat, http.StatusOK)
	get("Patient/"+pat+"?_summary=true", http.StatusOK)
	get("Patient/"+pat+"?_elements=name,birthDate", http.StatusOK)
	// Paging: every page of a search, through its next links.
	if _, err := c.bundleEntries(ctx, "Observation?subject=Patient/"+pat+"&_count=1&_include=Observation:subject"); err != nil {
		t.Fatal(err)
	}

	// Updates and patches, then history at every level.
	send(http.MethodPatch, "Patient/"+pat, `[{"op":"add","path":"/telecom","value":[{"system":"phone","value":"555-0100"}]}]`,
		http.StatusOK, "Content-Type", "application/json-patch+json")
	send(http.MethodPatch, "Patient/"+pat, `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[
		{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.birthDate"},{"name":"value","valueDate":"1974-12-24"}]}]}`,
		http.StatusOK)
	get("Patient/"+pat+"/_history", http.StatusOK)
	get("Patient/"+pat+"/_history/1", http.StatusOK)
	get("Patient/_history?_count=5", http.StatusOK)
	get("_history?_count=10", http.StatusOK)
	get("Communication/"+routine+"/_history", http.StatusOK)

	// Bundles: a transaction and a batch, with a failing entry.
	send(http.MethodPost, "", `{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:0a1e6b8e-2f57-4a5e-9d3c-6c1f9b1a2b3c","resource":{"resourceType":"Patient","name":[{"family":"Baxter"}]},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Observation","status":"final","code":{"text":"weight"},"subject":{"reference":"urn:uuid:0a1e6b8e-2f57-4a5e-9d3c-6c1f9b1a2b3c"},"valueQuantity":{"value":70.5,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}},"request":{"method":"POST","url":"Observation"}},
		{"request":{"method":"GET","url":"Patient/`+pat+`"}}]}`, http.StatusOK)
	send(http.MethodPost, "", `{"resourceType":"Bundle","type":"batch","entry":[
		{"request":{"method":"GET","url":"Patient?_id=`+pat+`"}},
		{"request":{"method":"GET","url":"Patient/does-not-exist"}},
		{"resource":{"resourceType":"Patient","gender":"unknown-gender"},"request":{"method":"POST","url":"Patient"}},
		{"request":{"method":"DELETE","url":"Observation?code=nothing-matches"}}]}`, http.StatusOK)

	// Conditional create that finds its match; then errors.
	send(http.MethodPost, "Organization", `{"resourceType":"Organization","name":"Riverside Clinic"}`, http.StatusOK,
		"If-None-Exist", "_id="+org)
	get("Patient/does-not-exist", http.StatusNotFound)
	get("Patient?unknown-parameter=1", http.StatusOK) // lenient: the Bundle carries an OperationOutcome
	if r, err := c.do(ctx, http.MethodGet, "Patient?unknown-parameter=1", nil, "Prefer", "handling=strict"); err != nil || r.status != http.StatusBadRequest {
		t.Fatalf("GET Patient?unknown-parameter=1 (strict): %v %d", err, r.status)
	}
	send(http.MethodPost, "Patient", `{"resourceType":"Patient","birthDate":"yesterday"}`, http.StatusUnprocessableEntity)
	send(http.MethodDelete, "Communication/"+msg, "", http.StatusConflict)
	temp := create("Observation", map[string]any{"status": "final", "code": map[string]any{"text": "temporary"}})
	send(http.MethodDelete, "Observation/"+temp, "", http.StatusNoContent)
	get("Observation/"+temp, http.StatusGone)
	get("Observation/"+temp+"/_history", http.StatusOK)

	// Portico's published definitions, where it serves them.
	for _, path := range []string{
		"OperationDefinition/Communication-triage-stats",
		"StructureDefinition?_count=100",
		"SearchParameter?_count=100",
		"CodeSystem?_count=100",
		"ValueSet?_count=100",
		"Questionnaire?_count=100",
	} {
		if _, err := c.do(ctx, http.MethodGet, path, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// recorder is an http.RoundTripper that keeps every exchange whole.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	log  []exchange
}

// exchange is one request and the answer to it.
type exchange struct {
	request     string // METHOD path?query
	status      int
	contentType string
	body        []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	u := *req.URL
	u.Scheme, u.Host = "", ""
	target, _ := url.PathUnescape(u.String())
	r.mu.Lock()
	r.log = append(r.log, exchange{request: req.Method + " " + target, status: resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"), body: body})
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// isFHIRResource says whether the answer is a FHIR resource in JSON: a JSON media type and an
// object with a resourceType.
func (x exchange) isFHIRResource() bool {
	mt, _, err := mime.ParseMediaType(x.contentType)
	if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
		return false
	}
	return x.resourceType() != ""
}

func (x exchange) bundleType() string {
	var head struct {
		Type string `json:"type"`
	}
	if x.resourceType() != "Bundle" || json.Unmarshal(x.body, &head) != nil {
		return ""
	}
	return head.Type
}

func (x exchange) resourceType() string {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(x.body, &head) != nil {
		return ""
	}
	return head.ResourceType
}
