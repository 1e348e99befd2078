package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/portico-health/portico/policy"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store"
)

// Error is an error a handler returns when it knows the HTTP status and the issues to report.
// Diagnostics may quote the request (they go to the client only); logs get the issue codes.
type Error struct {
	Status int
	Issues []fhir.Issue // at least one
	Header http.Header  // extra response headers (e.g. ETag of a tombstone), may be nil
	Err    error        // the cause, if any
}

func (e *Error) Error() string {
	msg := strconv.Itoa(e.Status)
	for _, is := range e.Issues {
		msg += " " + is.Code + ": " + is.Diagnostics
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// errorf makes an *Error with an issue of severity error.
func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Issues: []fhir.Issue{{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)}}}
}

// Common errors.
func badRequest(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "invalid", format, args...)
}

func notFound(format string, args ...any) *Error {
	return errorf(http.StatusNotFound, "not-found", format, args...)
}

func preconditionFailed(format string, args ...any) *Error {
	return errorf(http.StatusPreconditionFailed, "conflict", format, args...)
}

// gone is the 410 of a deleted resource, with the tombstone's ETag and Last-Modified.
func gone(rec store.Record) *Error {
	e := errorf(http.StatusGone, "deleted", "%s/%s was deleted", rec.Type, rec.ID)
	e.Header = http.Header{}
	setVersionHeaders(e.Header, rec)
	e.Err = store.ErrGone
	return e
}

// classify maps any error a handler returned to a status and the issues to send.
// It uses errors.As and errors.Is only: never the text of an error.
func classify(err error) (int, []fhir.Issue, http.Header) {
	var (
		ae *Error
		ve *fhir.ValidationError
		he *echo.HTTPError
		mb *http.MaxBytesError
		se *smart.Error
		de *policy.DeniedError
	)
	issue := func(status int, code, diag string) (int, []fhir.Issue, http.Header) {
		return status, []fhir.Issue{{Severity: "error", Code: code, Diagnostics: diag}}, nil
	}
	switch {
	case errors.As(err, &ae):
		return ae.Status, ae.Issues, ae.Header
	case errors.As(err, &se):
		return smartIssue(se)
	case errors.As(err, &de):
		return http.StatusForbidden, []fhir.Issue{{Severity: "error", Code: "forbidden", Diagnostics: de.Reason}},
			http.Header{"Www-Authenticate": {fmt.Sprintf(`Bearer error="insufficient_scope", error_description=%q`, de.Reason)}}
	case errors.As(err, &ve):
		return ve.Status(), ve.Issues, nil
	case errors.As(err, &he):
		return httpStatusIssue(he.Code)
	case errors.As(err, &mb):
		return issue(http.StatusRequestEntityTooLarge, "too-costly", fmt.Sprintf("the request body exceeds %d bytes", mb.Limit))
	case errors.Is(err, store.ErrUnavailable):
		return issue(http.StatusServiceUnavailable, "transient", "the store is unavailable; try again later")
	case errors.Is(err, store.ErrTooLarge):
		return issue(http.StatusRequestEntityTooLarge, "too-costly", "the resource is too large for the store")
	case errors.Is(err, store.ErrVersionConflict):
		return issue(http.StatusConflict, "conflict", "the resource was changed concurrently; try again")
	case errors.Is(err, store.ErrExists):
		return issue(http.StatusConflict, "duplicate", "a matching resource was created concurrently")
	case errors.Is(err, store.ErrNotFound):
		return issue(http.StatusNotFound, "not-found", "resource not found")
	case errors.Is(err, store.ErrInvalidCursor):
		return issue(http.StatusBadRequest, "invalid", "the paging cursor is invalid or has expired")
	case errors.Is(err, store.ErrUnsupported):
		return issue(http.StatusBadRequest, "not-supported", "the search is not supported by the store")
	case errors.Is(err, store.ErrYielded):
		return http.StatusServiceUnavailable, []fhir.Issue{{Severity: "error", Code: "too-costly",
				Diagnostics: "every search connection was busy and this search, long and from a caller that had used the server far more than the others waiting, was stopped to let theirs run: retry, or narrow its criteria"}},
			http.Header{"Retry-After": {"2"}}
	case errors.Is(err, guard.ErrSearchTooLong):
		return issue(http.StatusServiceUnavailable, "too-costly",
			"the search ran longer than the server allows for one search and was stopped: narrow its criteria (fewer values, chains or _has, no _total=accurate)")
	case errors.Is(err, context.DeadlineExceeded):
		return issue(http.StatusServiceUnavailable, "timeout", "the request timed out")
	}
	return issue(http.StatusInternalServerError, "exception", "internal server error")
}

// smartIssue is the OperationOutcome of an authorization error: 401 (issue code security;
// the middleware that refused the token already set WWW-Authenticate) or 403 (forbidden, with
// an insufficient_scope challenge, RFC 6750 §3.1). The description is PHI-free by contract.
func smartIssue(se *smart.Error) (int, []fhir.Issue, http.Header) {
	status, code := se.Status, "processing"
	var h http.Header
	switch {
	case status == http.StatusUnauthorized:
		code = "security"
	case status == http.StatusForbidden:
		code = "forbidden"
		h = http.Header{"Www-Authenticate": {fmt.Sprintf(`Bearer error=%q, error_description=%q`, se.Code, se.Description)}}
	case status >= 500 || status == 0:
		return http.StatusInternalServerError, []fhir.Issue{{Severity: "error", Code: "exception", Diagnostics: "internal server error"}}, nil
	case status == http.StatusBadRequest:
		code = "invalid"
	}
	diag := se.Description
	if diag == "" {
		diag = se.Code
	}
	return status, []fhir.Issue{{Severity: "error", Code: code, Diagnostics: diag}}, h
}

// httpStatusIssue turns an error Echo raised itself (routing, 405) into an issue.
func httpStatusIssue(status int) (int, []fhir.Issue, http.Header) {
	code := "processing"
	diag := http.StatusText(status)
	switch status {
	case http.StatusNotFound:
		code, diag = "not-found", "no such FHIR endpoint"
	case http.StatusMethodNotAllowed:
		code, diag = "not-supported", "the HTTP method is not supported on this URL"
	case http.StatusRequestEntityTooLarge:
		code = "too-costly"
	case http.StatusUnsupportedMediaType, http.StatusNotAcceptable:
		code = "not-supported"
	case http.StatusBadRequest:
		code = "invalid"
	case http.StatusUnauthorized:
		code = "login"
	case http.StatusForbidden:
		code = "forbidden"
	case http.StatusTooManyRequests:
		code = "throttled"
	}
	if status >= 500 {
		code = "exception"
	}
	return status, []fhir.Issue{{Severity: "error", Code: code, Diagnostics: diag}}, nil
}
