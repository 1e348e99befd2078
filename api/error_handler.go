package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/internal/redact"
	"github.com/portico-health/portico/internal/reqlog"
)

// HTTPErrorHandler is the echo.HTTPErrorHandler to install on the Echo instance
// (e.HTTPErrorHandler = a.HTTPErrorHandler): the one place that writes error responses. Every
// error becomes an OperationOutcome (application/fhir+json) with the status classify chose
// from the error's type and sentinels. It writes nothing when the response is already
// committed or the client has gone away.
//
// Its log line holds the status, the issue codes, the route pattern and the request id; never
// the URL, the diagnostics or the body, which may hold PHI. For a 5xx it adds the error's
// message with its identifiers redacted (internal/redact), also given to the request's own
// log line (reqlog), and the Go types of the error chain.
func (a *API) HTTPErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	req := c.Request()
	if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
		a.log.LogAttrs(req.Context(), slog.LevelDebug, "request canceled by the client",
			slog.String("request_id", requestID(c)))
		return
	}
	status, issues, header := classify(err)
	a.logError(c, status, issues, err)

	h := c.Response().Header()
	for k, v := range header {
		h[k] = v
	}
	if req.Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	outcome := fhir.Outcome(issues...)
	var body []byte
	if req.URL.RawQuery != "" && c.QueryParam("_pretty") == "true" {
		body = fhir.AppendIndentJSON(nil, outcome)
	} else {
		body = fhir.AppendJSON(nil, outcome)
	}
	_ = c.Blob(status, contentTypeFHIR, body)
}

func (a *API) logError(c echo.Context, status int, issues []fhir.Issue, err error) {
	codes := make([]string, len(issues))
	for i, is := range issues {
		codes[i] = is.Code
	}
	attrs := []slog.Attr{
		slog.Int("status", status),
		slog.String("issue", strings.Join(codes, ",")),
		slog.String("method", c.Request().Method),
		slog.String("route", c.Path()),
		slog.String("request_id", requestID(c)),
	}
	level := slog.LevelInfo
	if status >= http.StatusInternalServerError {
		level = slog.LevelError
		msg := redact.Message(err.Error())
		reqlog.SetError(c.Request().Context(), msg)
		attrs = append(attrs, slog.String("error", msg), slog.String("cause_types", errorTypes(err)))
	}
	a.log.LogAttrs(c.Request().Context(), level, "request failed", attrs...)
}

// requestID is the id the RequestID middleware put on the response (or the client sent).
func requestID(c echo.Context) string {
	if id := c.Response().Header().Get(echo.HeaderXRequestID); id != "" {
		return id
	}
	return c.Request().Header.Get(echo.HeaderXRequestID)
}

// errorTypes lists the Go types along an error chain, e.g. "*fmt.wrapError>*errors.errorString":
// which layer failed, beside the redacted message.
func errorTypes(err error) string {
	var b strings.Builder
	for i := 0; err != nil && i < 8; i++ {
		if i > 0 {
			b.WriteByte('>')
		}
		fmt.Fprintf(&b, "%T", err)
		err = errors.Unwrap(err)
	}
	return b.String()
}
