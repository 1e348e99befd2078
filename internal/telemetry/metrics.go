// Package telemetry is what Portico tells its operators beyond the request log: Prometheus
// metrics (Metrics, served at /metrics) and, when an OTLP endpoint is configured,
// OpenTelemetry traces (Tracing). The server owns one Metrics per instance, in a registry of
// its own, so that several servers in one process (tests) do not collide.
//
// Every label has a bounded set of values: FHIR interactions, known resource types (else
// "other"), status codes, store operations, grant types, OAuth error codes, triage priorities
// and categories. Never an id, a path with an id, a user name or a client id.
// docs/operations.md lists the metrics.
package telemetry

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/triage/model"
)

// Metrics holds the server's metrics. A nil *Metrics records nothing: every method may be
// called on it (--metrics=false).
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration [numInteractions]prometheus.Observer
	storeDuration   [numStoreOps]prometheus.Observer
	storeFailures   [numStoreOps]prometheus.Counter
	tokensIssued    *prometheus.CounterVec
	tokenFailures   *prometheus.CounterVec
	triaged         *prometheus.CounterVec
	queue           *queueCollector // RegisterTriageQueue's
}

// NewMetrics makes the metrics in a new registry, with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portico_http_requests_total",
		Help: "HTTP requests answered, by FHIR interaction, resource type (known FHIR types, else other; empty when the interaction has none) and status code.",
	}, []string{"interaction", "resource_type", "code"})
	requestDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "portico_http_request_duration_seconds",
		Help:    "Time from the start of a request's handling to its answer, by FHIR interaction.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"interaction"})
	storeDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "portico_store_operation_duration_seconds",
		Help:    "Time of a call to the store backend, by operation (read, vread, write, history, search, purge, ping).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"operation"})
	storeFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portico_store_operation_failures_total",
		Help: "Calls to the store backend that failed (the backend's fault or unavailability; not found, conflicts and other outcomes of the store contract are not failures), by operation.",
	}, []string{"operation"})
	m.tokensIssued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portico_auth_tokens_issued_total",
		Help: "Access tokens issued by the built-in authorization server, by grant type.",
	}, []string{"grant_type"})
	m.tokenFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portico_auth_token_failures_total",
		Help: "Token requests refused by the built-in authorization server, by grant type and OAuth error code.",
	}, []string{"grant_type", "error"})
	m.triaged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portico_triage_messages_total",
		Help: "Patient messages triaged, by priority and category.",
	}, []string{"priority", "category"})
	m.reg.MustRegister(m.requests, requestDuration, storeDuration, storeFailures, m.tokensIssued, m.tokenFailures, m.triaged)
	for i := range m.requestDuration {
		m.requestDuration[i] = requestDuration.WithLabelValues(Interaction(i).String())
	}
	for i := range m.storeDuration {
		m.storeDuration[i] = storeDuration.WithLabelValues(storeOp(i).String())
		m.storeFailures[i] = storeFailures.WithLabelValues(storeOp(i).String())
	}
	return m
}

// Registry is where the metrics are registered; more collectors may be added.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text exposition format (or OpenMetrics, when
// the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg, // promhttp's own counters of scrapes and their errors
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second,
	})
}

// ObserveRequest counts one answered HTTP request and its duration. typ must come from
// ResourceType (bounded).
func (m *Metrics) ObserveRequest(in Interaction, typ string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(in.String(), typ, statusLabel(status)).Inc()
	m.requestDuration[in].Observe(d.Seconds())
}

// statusLabels are the status codes as label values, made once.
var statusLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func statusLabel(status int) string {
	if status < 100 || status >= len(statusLabels) {
		return "other"
	}
	return statusLabels[status]
}

// The grant types the built-in authorization server knows; any other is counted as "other".
var grantTypes = map[string]bool{"authorization_code": true, "client_credentials": true, "refresh_token": true}

// The OAuth error codes the token endpoint answers (RFC 6749 §5.2, and temporarily_unavailable
// for rate limits and busy password hashing); any other is counted as "other".
var tokenErrors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, "server_error": true, "temporarily_unavailable": true,
}

// ObserveToken counts one token request: issued when errorCode is "", else refused.
// grantType is what the client sent; unknown values are counted as "other".
func (m *Metrics) ObserveToken(grantType, errorCode string) {
	if m == nil {
		return
	}
	if !grantTypes[grantType] {
		grantType = "other"
	}
	if errorCode == "" {
		m.tokensIssued.WithLabelValues(grantType).Inc()
		return
	}
	if !tokenErrors[errorCode] {
		errorCode = "other"
	}
	m.tokenFailures.WithLabelValues(grantType, errorCode).Inc()
}

// triagePriorities and triageCategories are the values the triage engine gives
// (docs/triage.md); any other is counted as "other".
var (
	triagePriorities = map[string]bool{"routine": true, "urgent": true, "asap": true, "stat": true}
	triageCategories = func() map[string]bool {
		m := map[string]bool{}
		for _, c := range model.Categories {
			m[c] = true
		}
		return m
	}()
)

// ObserveTriage counts one triaged patient message.
func (m *Metrics) ObserveTriage(priority, category string) {
	if m == nil {
		return
	}
	if !triagePriorities[priority] {
		priority = "other"
	}
	if !triageCategories[category] {
		category = "other"
	}
	m.triaged.WithLabelValues(priority, category).Inc()
}

// observeStore records one store call.
func (m *Metrics) observeStore(op storeOp, start time.Time, err error) {
	if m == nil {
		return
	}
	m.storeDuration[op].Observe(time.Since(start).Seconds())
	if storeFailed(err) {
		m.storeFailures[op].Inc()
	}
}

// storeFailed reports whether err is a failure of the backend rather than an answer of the
// store contract (not found, deleted, a conflict, a refused query).
func storeFailed(err error) bool {
	if err == nil {
		return false
	}
	for _, answer := range []error{store.ErrNotFound, store.ErrGone, store.ErrVersionConflict, store.ErrExists,
		store.ErrNoTransactions, store.ErrUnsupported, store.ErrTooLarge, store.ErrInvalidCursor} {
		if errors.Is(err, answer) {
			return false
		}
	}
	return true
}

// knownTypes are the resource types that may be label values.
var knownTypes = func() map[string]string {
	m := make(map[string]string, len(fhir.ResourceTypes))
	for _, t := range fhir.ResourceTypes {
		m[t] = t
	}
	return m
}()

// ResourceType is typ as a label value: a known FHIR resource type, "" for none, else "other"
// (a request for /fhir/NoSuchType/1 must not add a series).
func ResourceType(typ string) string {
	if typ == "" {
		return ""
	}
	if t, ok := knownTypes[typ]; ok {
		return t
	}
	return "other"
}
