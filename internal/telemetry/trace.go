package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing exports OpenTelemetry traces over OTLP/HTTP: one span per HTTP request and a child
// span per store call. A nil *Tracing traces nothing: every method may be called on it.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
}

// TracingWanted reports whether traces are to be exported: an endpoint was given (the
// --otlp-endpoint flag), or the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT variable is set, and OTEL_SDK_DISABLED is not "true".
func TracingWanted(endpoint string) bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	return endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// CheckEndpoint checks an --otlp-endpoint value: an absolute http(s) URL.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return fmt.Errorf("otlp-endpoint: %q is not an http(s) URL such as http://collector:4318", endpoint)
	}
	return nil
}

// StartTracing starts the OTLP/HTTP exporter. endpoint, when not "", is the collector's base
// URL as OTEL_EXPORTER_OTLP_ENDPOINT takes it (spans go to endpoint + /v1/traces); else the
// exporter reads the standard OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout,
// certificates, compression). The sampler is OTEL_TRACES_SAMPLER's (default: every trace,
// or as the caller's traceparent says). Shutdown flushes and stops it.
func StartTracing(ctx context.Context, endpoint string, log *slog.Logger) (*Tracing, error) {
	var opts []otlptracehttp.Option
	if endpoint != "" {
		if err := CheckEndpoint(endpoint); err != nil {
			return nil, err
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimSuffix(endpoint, "/")+"/v1/traces"))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "portico")),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("otlp resource: %w", err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	// The exporter's own failures (collector down) are logged, not returned to requests.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("trace export failed", "error", err.Error())
	}))
	return &Tracing{
		provider: provider,
		tracer:   provider.Tracer("github.com/portico-health/portico"),
		prop:     propagation.TraceContext{},
	}, nil
}

// Shutdown exports the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// StartRequest starts the span of an HTTP request, a child of the caller's W3C traceparent
// when it sent one. Its name is the method and the route template: never the path (ids) or
// the query string.
func (t *Tracing) StartRequest(ctx context.Context, r *http.Request, route string) (context.Context, trace.Span) {
	ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	method := spanMethod(r.Method)
	name := method
	if route != "" {
		name += " " + route
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", method)))
}

// EndRequest ends the span of an HTTP request with its outcome. A 5xx is an error.
func EndRequest(span trace.Span, route string, in Interaction, typ string, status int) {
	attrs := []attribute.KeyValue{
		attribute.Int("http.response.status_code", status),
		attribute.String("fhir.interaction", in.String()),
	}
	if route != "" {
		attrs = append(attrs, attribute.String("http.route", route))
	}
	if typ != "" {
		attrs = append(attrs, attribute.String("fhir.resource_type", typ))
	}
	span.SetAttributes(attrs...)
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// TraceID is the id of the trace ctx belongs to, for the request log; "" when none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// spanMethod is an HTTP method as the span names it: the standard ones, else _OTHER (a
// client may send any token as a method).
func spanMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// startStore starts the span of a store call, only inside a traced request: background work
// (the sweeper, intent recovery) makes no traces of its own.
func (t *Tracing) startStore(ctx context.Context, op storeOp, typ string) (context.Context, trace.Span) {
	if t == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{attribute.String("db.operation.name", op.String())}
	if typ != "" {
		attrs = append(attrs, attribute.String("fhir.resource_type", ResourceType(typ)))
	}
	return t.tracer.Start(ctx, "store."+op.String(), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endStore ends a store call's span; a failure of the backend is an error (its type only: the
// message may hold ids).
func endStore(span trace.Span, err error) {
	if span == nil {
		return
	}
	if storeFailed(err) {
		span.SetStatus(codes.Error, errorKind(err))
	}
	span.End()
}

// errorKind names an error without its text.
func errorKind(err error) string {
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline exceeded"
	}
	return fmt.Sprintf("%T", err)
}
