package smart

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/portico-health/portico/internal/ratelimit"
)

// Error is an OAuth 2.0 protocol error (RFC 6749 §5.2, RFC 6750 §3.1): the code and HTTP
// status the client sees, a PHI-free description, and the cause, which is logged but never sent.
type Error struct {
	Code        string
	Description string
	Status      int
	Cause       error
	RetryAfter  time.Duration // sent as Retry-After (whole seconds, at least 1) with a 429 or 503
}

func (e *Error) Error() string {
	s := e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, ErrInvalidClient) true for any *Error with that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The protocol errors. Compare with errors.Is; make a specific one with withf.
var (
	ErrInvalidRequest       = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrInvalidClient        = &Error{Code: "invalid_client", Status: http.StatusUnauthorized}
	ErrInvalidGrant         = &Error{Code: "invalid_grant", Status: http.StatusBadRequest}
	ErrUnauthorizedClient   = &Error{Code: "unauthorized_client", Status: http.StatusBadRequest}
	ErrUnsupportedGrantType = &Error{Code: "unsupported_grant_type", Status: http.StatusBadRequest}
	ErrInvalidScope         = &Error{Code: "invalid_scope", Status: http.StatusBadRequest}
	ErrServerError          = &Error{Code: "server_error", Status: http.StatusInternalServerError}

	// ErrInvalidToken: a bearer token is missing, malformed, expired, revoked or not ours
	// (RFC 6750 §3.1): HTTP 401 with WWW-Authenticate: Bearer error="invalid_token".
	ErrInvalidToken = &Error{Code: "invalid_token", Status: http.StatusUnauthorized}
	// ErrInsufficientScope: the token is valid but its scopes do not allow the request: HTTP 403.
	ErrInsufficientScope = &Error{Code: "insufficient_scope", Status: http.StatusForbidden}
)

// ErrNoToken is returned by Authenticate when the request carries no bearer token at all:
// HTTP 401 with a bare WWW-Authenticate: Bearer challenge (RFC 6750 §3.1: no error code).
var ErrNoToken = errors.New("smart: no bearer token")

// withf returns a copy of base with a description (no PHI: it is sent to the client).
func withf(base *Error, format string, args ...any) *Error {
	e := *base
	e.Description = fmt.Sprintf(format, args...)
	return &e
}

// wrap returns a copy of base with a description and a cause that is only logged.
func wrap(base *Error, cause error, description string) *Error {
	e := *base
	e.Description, e.Cause = description, cause
	return &e
}

// Challenge is the WWW-Authenticate value for an error of Authenticate (RFC 6750 §3).
func Challenge(err error, realm string) string {
	var e *Error
	if errors.As(err, &e) {
		return fmt.Sprintf(`Bearer realm=%q, error=%q, error_description=%q`, realm, e.Code, e.Description)
	}
	return fmt.Sprintf("Bearer realm=%q", realm)
}

// writeError sends err as an RFC 6749 §5.2 JSON error with the no-store headers. Errors that
// are not *Error are server errors, and their text is not sent.
func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = ErrServerError
	}
	if e.Status == http.StatusUnauthorized && e.Code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="portico"`)
	}
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", ratelimit.RetryAfter(e.RetryAfter))
	}
	body := map[string]string{"error": e.Code}
	if e.Description != "" {
		body["error_description"] = e.Description
	}
	writeJSON(w, e.Status, body)
}

// writeJSON sends v with the headers every token-endpoint response carries (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// truncate shortens what a client sent for an error description.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
