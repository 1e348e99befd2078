package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

func TestClassify(t *testing.T) {
	c := NewClassifier("/fhir", AuthPath("/fhir"))
	for _, tc := range []struct {
		method, route, typ, id string
		want                   Interaction
		wantType               string
	}{
		{"GET", "/fhir/:type/:id", "Patient", "1", Read, "Patient"},
		{"HEAD", "/fhir/:type/:id", "Patient", "1", Read, "Patient"},
		{"PUT", "/fhir/:type/:id", "Patient", "1", Update, "Patient"},
		{"PATCH", "/fhir/:type/:id", "Patient", "1", Patch, "Patient"},
		{"DELETE", "/fhir/:type/:id", "Patient", "1", Delete, "Patient"},
		{"GET", "/fhir/:type/:id", "Patient", "$everything", Operation, "Patient"},
		{"GET", "/fhir/:type/:id/_history/:vid", "Observation", "1", VRead, "Observation"},
		{"GET", "/fhir/:type/:id/_history", "Observation", "1", History, "Observation"},
		{"GET", "/fhir/:type/_history", "Observation", "", History, "Observation"},
		{"GET", "/fhir/_history", "", "", History, ""},
		{"GET", "/fhir/:type", "Observation", "", SearchType, "Observation"},
		{"POST", "/fhir/:type/_search", "Observation", "", SearchType, "Observation"},
		{"POST", "/fhir/:type", "Observation", "", Create, "Observation"},
		{"PUT", "/fhir/:type", "Observation", "", Update, "Observation"},
		{"DELETE", "/fhir/:type", "Observation", "", Delete, "Observation"},
		{"POST", "/fhir/:type", "$validate", "", Operation, ""},
		{"GET", "/fhir", "", "", SearchSystem, ""},
		{"GET", "/fhir/", "", "", SearchSystem, ""},
		{"POST", "/fhir/_search", "", "", SearchSystem, ""},
		{"POST", "/fhir", "", "", Other, ""}, // batch or transaction: the handler tells
		{"GET", "/fhir/metadata", "", "", Capabilities, ""},
		{"GET", "/fhir/Communication/$triage-stats", "", "", Operation, "Communication"},
		{"GET", "/fhir/.well-known/smart-configuration", "", "", Auth, ""},
		{"POST", "/auth/token", "", "", Auth, ""},
		{"GET", "/auth/authorize", "", "", Auth, ""},
		{"GET", "/healthz", "", "", Other, ""},
		{"GET", "/metrics", "", "", Other, ""},
		{"GET", "/demo/*", "", "", Other, ""},
		{"GET", "/fhirx/:type", "Patient", "", Other, ""},
		{"GET", "", "", "", Other, ""}, // no route matched
	} {
		param := func(name string) string {
			switch name {
			case "type":
				return tc.typ
			case "id":
				return tc.id
			}
			return ""
		}
		if in, typ := c.Classify(tc.method, tc.route, param); in != tc.want || typ != tc.wantType {
			t.Errorf("%s %s (%s/%s): %s %q, want %s %q", tc.method, tc.route, tc.typ, tc.id, in, typ, tc.want, tc.wantType)
		}
	}
	if got := NewClassifier("/api/fhir", AuthPath("/api/fhir")); got.auth != "/api/auth" {
		t.Errorf("auth path beside /api/fhir: %q", got.auth)
	}
	for i := Interaction(0); i < numInteractions; i++ {
		if ParseInteraction(i.String()) != i {
			t.Errorf("ParseInteraction(%q) = %v", i.String(), ParseInteraction(i.String()))
		}
	}
}

func TestResourceType(t *testing.T) {
	for in, want := range map[string]string{"Patient": "Patient", "": "", "patient": "other", "Patient/1": "other", "NoSuchType": "other"} {
		if got := ResourceType(in); got != want {
			t.Errorf("ResourceType(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLabelsBounded: values a client writes (grant types, unknown codes) count as "other".
func TestLabelsBounded(t *testing.T) {
	m := NewMetrics()
	m.ObserveToken("client_credentials", "")
	m.ObserveToken("urn:evil:"+strings.Repeat("x", 100), "invalid_request")
	m.ObserveToken("", "made_up_code")
	m.ObserveTriage("stat", "clinical")
	m.ObserveTriage("whenever", "gossip")
	m.ObserveRequest(Read, "Patient", 999, time.Millisecond)
	got := gather(t, m)
	for _, want := range []string{
		`portico_auth_token_failures_total{error="invalid_request",grant_type="other"} 1`,
		`portico_auth_token_failures_total{error="other",grant_type="other"} 1`,
		`portico_auth_tokens_issued_total{grant_type="client_credentials"} 1`,
		`portico_triage_messages_total{category="clinical",priority="stat"} 1`,
		`portico_triage_messages_total{category="other",priority="other"} 1`,
		`portico_http_requests_total{code="other",interaction="read",resource_type="Patient"} 1`,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s", want)
		}
	}
	for _, s := range got {
		if strings.Contains(s, "evil") || strings.Contains(s, "gossip") || strings.Contains(s, "made_up") {
			t.Errorf("a client's value became a label: %s", s)
		}
	}
	var nilMetrics *Metrics // --metrics=false: every call is a no-op
	nilMetrics.ObserveToken("client_credentials", "")
	nilMetrics.ObserveRequest(Read, "Patient", 200, 0)
	nilMetrics.RegisterTriageQueue(nil, nil)
}

// TestTriageQueueCached: the gauges are counted at most once per 30 s however often they are
// scraped; a failed count leaves them out of the scrape; a count gets a deadline.
func TestTriageQueueCached(t *testing.T) {
	m := NewMetrics()
	calls := 0
	var fail error
	var deadline time.Duration
	m.RegisterTriageQueue(func(ctx context.Context, now time.Time) (int, int, error) {
		calls++
		d, _ := ctx.Deadline()
		deadline = time.Until(d)
		return 7, 2, fail
	}, slog.New(slog.DiscardHandler))
	c := m.queue
	clock := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return clock }

	queue := func() []string {
		var out []string
		for _, s := range gather(t, m) {
			if strings.HasPrefix(s, "portico_triage_") {
				out = append(out, s)
			}
		}
		return out
	}
	for range 5 {
		if got := queue(); !slices.Equal(got, []string{"portico_triage_overdue_messages 7", "portico_triage_review_messages 2"}) {
			t.Fatalf("gauges: %v", got)
		}
	}
	if calls != 1 || deadline <= 0 || deadline > queueTimeout {
		t.Errorf("%d counts for 5 scrapes, deadline %v", calls, deadline)
	}

	clock = clock.Add(queueMaxAge)
	fail = errors.New("store: backend unavailable")
	if got := queue(); len(got) != 0 {
		t.Errorf("after a failed count: %v", got)
	}
	if calls != 2 {
		t.Errorf("%d counts after the cache expired", calls)
	}
}

// gather lists the counters and gauges of m as `name{label="value",...} value`, labels sorted
// by name.
func gather(t *testing.T, m *Metrics) []string {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			name := f.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case mt.Counter != nil:
				out = append(out, fmt.Sprintf("%s %g", name, mt.Counter.GetValue()))
			case mt.Gauge != nil:
				out = append(out, fmt.Sprintf("%s %g", name, mt.Gauge.GetValue()))
			}
		}
	}
	return out
}

// TestWrapStore: every call is timed by operation; only the backend's failures count as
// failures (a read of nothing is an answer); the capabilities are the backend's.
func TestWrapStore(t *testing.T) {
	if st := (&instrumented{}); WrapStore(st, nil, nil) != st {
		t.Error("nothing to record, yet wrapped")
	}
	backend, err := sqlite.Open(t.Context(), sqlite.Config{Dir: t.TempDir(), Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	st := WrapStore(backend, m, nil)
	if !store.CapabilitiesOf(st).Transactions {
		t.Error("the backend's transactions are hidden")
	}
	if _, err := st.Read(t.Context(), "Patient", "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := st.Search(t.Context(), store.Query{Types: []string{"Patient"}, Count: 1}); err != nil {
		t.Fatal(err)
	}
	backend.Close()
	if _, err := st.Read(t.Context(), "Patient", "nobody"); err == nil {
		t.Fatal("read from a closed store")
	}
	got := gather(t, m)
	for _, want := range []string{
		`portico_store_operation_failures_total{operation="read"} 1`,
		`portico_store_operation_failures_total{operation="search"} 0`,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s in %v", want, got)
		}
	}
	fams, _ := m.Registry().Gather()
	for _, f := range fams {
		if f.GetName() != "portico_store_operation_duration_seconds" {
			continue
		}
		for _, mt := range f.GetMetric() {
			op, n := mt.GetLabel()[0].GetValue(), mt.GetHistogram().GetSampleCount()
			if want := map[string]uint64{"read": 2, "search": 1}[op]; n != want {
				t.Errorf("%s timed %d times, want %d", op, n, want)
			}
		}
	}
}
