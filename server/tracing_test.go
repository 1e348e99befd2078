package server

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP trace receiver: it keeps the spans of every export it is sent
// (protobuf, as the exporter sends them).
type collector struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	paths []string
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		data, _ := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(data, &req) != nil {
			t.Errorf("export: %s %q, %d bytes", r.URL.Path, r.Header.Get("Content-Type"), len(data))
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.paths = append(c.paths, r.URL.Path)
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) received() ([]*tracepb.Span, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*tracepb.Span(nil), c.spans...), append([]string(nil), c.paths...)
}

// attr is a span attribute's value as text ("" when absent).
func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if _, ok := kv.Value.Value.(*commonpb.AnyValue_IntValue); ok {
				return strconv.FormatInt(kv.Value.GetIntValue(), 10)
			}
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

// TestTraces: with --otlp-endpoint, each request is a server span named by its method and
// route template, with its status and FHIR interaction, and its store calls are child spans;
// nothing of the URL beyond the template (ids, query string) is in a span. The spans arrive
// over OTLP/HTTP (protobuf) at the endpoint's /v1/traces, at the latest when the server stops.
func TestTraces(t *testing.T) {
	col := newCollector(t)
	en := newObsEnv(t, func(c *Config) { c.Triage = false; c.OTLPEndpoint = col.URL })
	if en.srv.tracing == nil {
		t.Fatal("tracing not started")
	}
	var created struct{ ID string }
	_ = json.Unmarshal(en.must("POST", "/Patient", `{"resourceType":"Patient"}`, 201), &created)
	req, _ := http.NewRequest("GET", en.ts.URL+"/fhir/Patient/"+created.ID+"?_elements=secret-element", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("read: %d", resp.StatusCode)
	}
	// The request log names the trace.
	if !strings.Contains(en.log.String(), `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("the request line has no trace_id: %s", en.log.String())
	}
	en.ts.Close()
	if err := en.srv.Close(); err != nil { // flushes the exporter
		t.Fatal(err)
	}

	spans, paths := col.received()
	if len(paths) == 0 || paths[0] != "/v1/traces" {
		t.Fatalf("exports at %v", paths)
	}
	var read *tracepb.Span
	for _, s := range spans {
		if s.Name == "GET /fhir/:type/:id" {
			read = s
		}
		for _, kv := range s.Attributes {
			if v := kv.Value.GetStringValue(); strings.Contains(v, created.ID) || strings.Contains(v, "secret-element") {
				t.Errorf("span %s holds %s=%q", s.Name, kv.Key, v)
			}
		}
		if strings.Contains(s.Name, created.ID) {
			t.Errorf("span name %q holds the id", s.Name)
		}
	}
	if read == nil {
		t.Fatalf("no span of the read among %d", len(spans))
	}
	if read.Kind != tracepb.Span_SPAN_KIND_SERVER || attr(read, "http.route") != "/fhir/:type/:id" ||
		attr(read, "http.response.status_code") != "200" || attr(read, "fhir.interaction") != "read" ||
		attr(read, "fhir.resource_type") != "Patient" || attr(read, "http.request.method") != "GET" {
		t.Errorf("read span: kind %v attributes %v", read.Kind, read.Attributes)
	}
	if hex.EncodeToString(read.TraceId) != "4bf92f3577b34da6a3ce929d0e0e4736" || hex.EncodeToString(read.ParentSpanId) != "00f067aa0ba902b7" {
		t.Errorf("the read span does not continue the caller's trace: %x parent %x", read.TraceId, read.ParentSpanId)
	}
	var child *tracepb.Span
	for _, s := range spans {
		if bytes.Equal(s.ParentSpanId, read.SpanId) && s.Name == "store.read" {
			child = s
		}
	}
	if child == nil || attr(child, "fhir.resource_type") != "Patient" || child.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("no store.read child span of the read: %v", child)
	}
}

// TestTracesFromEnvironment: the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT switches traces
// on without the flag; without any endpoint nothing is started.
func TestTracesFromEnvironment(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	if en := newObsEnv(t, func(c *Config) { c.Triage = false }); en.srv.tracing != nil {
		t.Fatal("tracing started without an endpoint")
	}

	col := newCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", col.URL+"/custom/traces")
	en := newObsEnv(t, func(c *Config) { c.Triage = false })
	en.must("GET", "/metadata", "", 200)
	en.ts.Close()
	if err := en.srv.Close(); err != nil {
		t.Fatal(err)
	}
	spans, paths := col.received()
	found := false
	for _, s := range spans {
		found = found || s.Name == "GET /fhir/metadata" && attr(s, "fhir.interaction") == "capabilities"
	}
	if !found || len(paths) == 0 || paths[0] != "/custom/traces" {
		t.Errorf("spans %d at %v; metadata span found: %v", len(spans), paths, found)
	}
}
