package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"
)

// subRequester runs a search entry of a Bundle through the server's own search route, so that
// Bundles answer searches exactly as GET [base]/[type]?... does, whatever search supports. The
// inner request carries the outer one's Authorization, Prefer and X-Request-Id headers.
type subRequester struct {
	e      *echo.Echo
	prefix string // the route of POST [base], i.e. the FHIR base path ("/fhir")
	header http.Header
	remote string // the Bundle request's RemoteAddr: an entry comes from the Bundle's client
}

// search answers a search entry: the searchset Bundle, or the error's status and OperationOutcome.
func (s subRequester) search(ctx context.Context, e *entry) error {
	if s.e == nil {
		return errorf(http.StatusBadRequest, "not-supported", "search in bundles is not supported here")
	}
	target := s.prefix
	if len(e.path) > 0 {
		target += "/" + strings.Join(e.path, "/")
	}
	if e.hasQ {
		target += "?" + e.query
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	req.Header.Set("Accept", mimeFHIRJSON)
	// The entry is the Bundle's client's request: the same peer and forwarding headers give it
	// the same client address (rate limits, the request log), not httptest's 192.0.2.1.
	req.RemoteAddr = s.remote
	for _, h := range []string{"Authorization", "Prefer", echo.HeaderXRequestID, "X-Forwarded-For", "Forwarded"} {
		if v := s.header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	e.status = rec.Code
	body := bytes.TrimSpace(rec.Body.Bytes())
	if rec.Code >= 400 {
		if len(body) > 0 && body[0] == '{' {
			e.outcome = body
		} else {
			e.issues = errorf(rec.Code, "processing", "%s", http.StatusText(rec.Code)).Issues
		}
		return nil
	}
	if e.method == "GET" && len(body) > 0 {
		e.body = body
	}
	return nil
}
