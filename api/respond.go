package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// writeRecord sends a stored version: the stored bytes as they are (they already hold id and
// meta), re-encoded only for _pretty.
func writeRecord(c echo.Context, f format, status int, rec store.Record) error {
	setVersionHeaders(c.Response().Header(), rec)
	return writeJSON(c, f, status, rec.Body)
}

// writeJSON sends a compact JSON body, indented when _pretty=true.
func writeJSON(c echo.Context, f format, status int, body []byte) error {
	if f.pretty {
		v, err := fhir.ParseJSON(body)
		if err != nil {
			return fmt.Errorf("api: stored JSON does not parse: %w", err)
		}
		body = fhir.AppendIndentJSON(make([]byte, 0, len(body)*3/2), v)
	}
	return c.Blob(status, f.contentType, body)
}

// preferReturn is the return preference of a Prefer header (RFC 7240, http.html#ops).
type preferReturn uint8

const (
	returnRepresentation preferReturn = iota // the default
	returnMinimal
	returnOutcome
)

func parsePrefer(h http.Header) preferReturn {
	for _, v := range h.Values("Prefer") {
		for pref := range strings.SplitSeq(v, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if !strings.EqualFold(strings.TrimSpace(name), "return") {
				continue
			}
			switch strings.Trim(strings.TrimSpace(value), `"`) {
			case "minimal":
				return returnMinimal
			case "OperationOutcome":
				return returnOutcome
			case "representation":
				return returnRepresentation
			}
		}
	}
	return returnRepresentation
}

// versionURL is the absolute URL of one version: [base]/Type/id/_history/n.
func (a *API) versionURL(typ, id string, version int64) string {
	b := make([]byte, 0, len(a.base)+len(typ)+len(id)+32)
	b = append(b, a.base...)
	b = append(b, '/')
	b = append(b, typ...)
	b = append(b, '/')
	b = append(b, id...)
	b = append(b, "/_history/"...)
	b = strconv.AppendInt(b, version, 10)
	return string(b)
}

// writeWritten answers a create, update or patch (or a conditional create that matched):
// ETag, Last-Modified, Location for 201 and Content-Location always, and the body the
// Prefer header asks for.
func (a *API) writeWritten(c echo.Context, f format, status int, rec store.Record, what string) error {
	h := c.Response().Header()
	setVersionHeaders(h, rec)
	loc := a.versionURL(rec.Type, rec.ID, rec.Version)
	if status == http.StatusCreated {
		h["Location"] = []string{loc}
	}
	h["Content-Location"] = []string{loc}
	switch parsePrefer(c.Request().Header) {
	case returnMinimal:
		return c.NoContent(status)
	case returnOutcome:
		oo := fhir.Outcome(fhir.Issue{Severity: "information", Code: "informational",
			Diagnostics: fmt.Sprintf("%s %s/%s, version %d", what, rec.Type, rec.ID, rec.Version)})
		return writeJSON(c, f, status, fhir.AppendJSON(nil, oo))
	}
	return writeJSON(c, f, status, rec.Body)
}

// Responder writes the FHIR JSON answers of a handler outside this package (an operation
// such as $triage-stats) in the format its request negotiated, like every interaction here:
// application/fhir+json; charset=utf-8 unless the client prefers application/json, indented
// under _pretty=true.
type Responder struct{ f format }

// Negotiate reads _format, Accept and _pretty; a request that accepts no JSON is HTTP 406, to
// be returned before any work is done.
func Negotiate(c echo.Context) (Responder, error) {
	f, err := negotiate(c)
	return Responder{f}, err
}

// Write sends body, a compact FHIR JSON resource.
func (r Responder) Write(c echo.Context, status int, body []byte) error {
	return writeJSON(c, r.f, status, body)
}
