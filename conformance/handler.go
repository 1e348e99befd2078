package conformance

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/fhir"
)

// fhirJSON is the content type of every response the Handler sends.
const fhirJSON = "application/fhir+json; charset=utf-8"

// Handler serves the CapabilityStatement of d for GET [base]/metadata (R4 http.html#capabilities).
// The document is encoded once, compact and indented, when Handler is called: it describes the
// running server, whose capabilities do not change while it runs, and its date is the start time.
// _pretty=true selects the indented form. A request that accepts no JSON format, by Accept or by
// _format, gets 406 as an *echo.HTTPError, for the server's error handler to render as an
// OperationOutcome.
func Handler(d Description) echo.HandlerFunc {
	cs := CapabilityStatement(d.withDefaults(time.Now()))
	compact := fhir.AppendJSON(nil, cs)
	pretty := append(fhir.AppendIndentJSON(nil, cs), '\n')
	return func(c echo.Context) error {
		req := c.Request()
		if !acceptsJSON(req.URL.Query().Get("_format"), req.Header.Values(echo.HeaderAccept)) {
			return echo.NewHTTPError(http.StatusNotAcceptable,
				"the CapabilityStatement is available as application/fhir+json only")
		}
		body := compact
		if c.QueryParam("_pretty") == "true" {
			body = pretty
		}
		return c.Blob(http.StatusOK, fhirJSON, body)
	}
}
