package server

import (
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"

	"github.com/portico-health/portico/internal/clientaddr"
	"github.com/portico-health/portico/internal/reqlog"
	"github.com/portico-health/portico/internal/telemetry"
	"github.com/portico-health/portico/policy"
)

// requestLogger resolves the client address of each request (clientaddr.From) and logs one
// line per request with its request id, client address, and who made it: the client id, the
// user (fhirUser), the patient in context and the jti of the access token it presented (or, at
// the token endpoint, of the token it issued). A 5xx adds its cause with identifiers redacted.
// It logs the path but never the query string, the token or bodies: search parameters and
// resources can hold PHI. The same middleware counts the request in the metrics and, when
// tracing, wraps it in a span (docs/operations.md). It is the outermost middleware and sets
// the request's context once for all of that (a request copy per request is what it costs).
func (s *Server) requestLogger(addrs *clientaddr.Resolver) echo.MiddlewareFunc {
	log, metrics, tracing := s.log, s.metrics, s.tracing
	u, _ := url.Parse(s.cfg.BaseURL) // checked in Validate
	fhirPath := strings.TrimSuffix(u.Path, "/")
	classify := telemetry.NewClassifier(fhirPath, telemetry.AuthPath(fhirPath))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req := c.Request()
			ctx, entry := reqlog.With(addrs.NewContext(req.Context(), req))
			var span trace.Span
			if tracing != nil {
				ctx, span = tracing.StartRequest(ctx, req, c.Path())
			}
			req = req.WithContext(ctx)
			c.SetRequest(req)
			err := next(c)
			if err != nil {
				c.Error(err) // writes the OperationOutcome so that the status below is final
			}
			elapsed := time.Since(start)
			res := c.Response()
			in, typ := classify.Classify(req.Method, c.Path(), c.Param)
			if entry.Interaction != "" {
				in = telemetry.ParseInteraction(entry.Interaction)
			}
			typ = telemetry.ResourceType(typ)
			metrics.ObserveRequest(in, typ, res.Status, elapsed)
			if span != nil {
				telemetry.EndRequest(span, c.Path(), in, typ, res.Status)
			}

			level := slog.LevelInfo
			if res.Status >= 500 {
				level = slog.LevelError
			}
			if !log.Enabled(ctx, level) {
				return nil
			}
			attrs := make([]slog.Attr, 0, 12)
			attrs = append(attrs,
				slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
				slog.String("method", req.Method),
				slog.String("path", req.URL.Path),
				slog.String("client", clientaddr.From(req)),
				slog.Int("status", res.Status),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			)
			// The principal the authentication middleware put in the request's context; at
			// the token endpoint, what the handler recorded.
			client, user, patient, jti := entry.ClientID, entry.User, entry.Patient, entry.TokenID
			if p, ok := policy.PrincipalFrom(c.Request().Context()); ok {
				client, user, patient, jti = p.ClientID, p.FHIRUser, p.Patient, p.TokenID
			}
			for _, a := range [...]struct{ k, v string }{
				{"client_id", client}, {"user", user}, {"patient", patient}, {"jti", jti},
				{"error", entry.Error}, {"trace_id", telemetry.TraceID(ctx)},
			} {
				if a.v != "" {
					attrs = append(attrs, slog.String(a.k, a.v))
				}
			}
			log.LogAttrs(ctx, level, "request", attrs...)
			return nil
		}
	}
}
