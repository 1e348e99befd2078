package api

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// Media types. Responses are always JSON; request bodies must be JSON too.
const (
	contentTypeFHIR = "application/fhir+json; charset=utf-8"
	contentTypeJSON = "application/json; charset=utf-8"
	mimeFHIRJSON    = "application/fhir+json"
	mimeJSON        = "application/json"
	mimeFHIRJSONOld = "application/json+fhir" // the DSTU2 name, still sent by some clients
	mimeJSONPatch   = "application/json-patch+json"
)

// format is the negotiated response format (http.html#mime, http.html#parameters).
type format struct {
	contentType string // the response Content-Type
	pretty      bool   // _pretty=true
}

var defaultFormat = format{contentType: contentTypeFHIR}

// negotiate picks the response format from _format (which overrides Accept), Accept and
// _pretty. Only JSON is produced: a request that accepts nothing else is HTTP 406.
func negotiate(c echo.Context) (format, error) {
	f := defaultFormat
	req := c.Request()
	if req.URL.RawQuery != "" {
		f.pretty = c.QueryParam("_pretty") == "true"
		if v := c.QueryParam("_format"); v != "" {
			if !formatParamOK(v) {
				return f, errorf(http.StatusNotAcceptable, "not-supported", "_format %q is not supported: this server only produces JSON", v)
			}
			return f, nil
		}
	}
	ct, ok := acceptJSON(req.Header.Values(echo.HeaderAccept))
	if !ok {
		return f, errorf(http.StatusNotAcceptable, "not-supported",
			"the Accept header allows no format this server produces (application/fhir+json, application/json)")
	}
	f.contentType = ct
	return f, nil
}

// formatParamOK reports whether a _format value asks for JSON. An unencoded '+' arrives as a
// space ("application/fhir json"), so that spelling is accepted too.
func formatParamOK(v string) bool {
	mt, params, _ := strings.Cut(v, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "json", mimeJSON, mimeFHIRJSON, mimeFHIRJSONOld, "application/fhir json", "application/json fhir":
		return fhirVersionOK(params)
	}
	return false
}

// acceptJSON evaluates Accept headers (RFC 9110 section 12.5.1) for the two types offered,
// application/fhir+json (preferred on a tie) and application/json; each offer takes the
// q-value of the most specific range that matches it. A range whose fhirVersion parameter
// is not 4.0 matches nothing.
func acceptJSON(values []string) (contentType string, ok bool) {
	if len(values) == 0 {
		return contentTypeFHIR, true
	}
	if len(values) == 1 { // fast paths, no allocation
		switch values[0] {
		case "", "*/*", mimeFHIRJSON, "application/*", mimeFHIRJSONOld:
			return contentTypeFHIR, true
		case mimeJSON:
			return contentTypeJSON, true
		}
	}
	type offer struct {
		q, specificity float64
	}
	fhirJSON, plainJSON := offer{-1, -1}, offer{-1, -1}
	consider := func(o *offer, spec, q float64) {
		if spec > o.specificity {
			o.q, o.specificity = q, spec
		}
	}
	for _, header := range values {
		for r := range strings.SplitSeq(header, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			mt, params, _ := strings.Cut(r, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			q, ok := rangeParams(params)
			if !ok {
				continue
			}
			switch mt {
			case "*/*":
				consider(&fhirJSON, 1, q)
				consider(&plainJSON, 1, q)
			case "application/*":
				consider(&fhirJSON, 2, q)
				consider(&plainJSON, 2, q)
			case mimeFHIRJSON, mimeFHIRJSONOld:
				consider(&fhirJSON, 3, q)
			case mimeJSON:
				consider(&plainJSON, 3, q)
			}
		}
	}
	switch {
	case fhirJSON.q > 0 && fhirJSON.q >= plainJSON.q:
		return contentTypeFHIR, true
	case plainJSON.q > 0:
		return contentTypeJSON, true
	}
	return "", false
}

// rangeParams reads the parameters of one media range: its q-value (1 when absent) and
// whether the range still applies (fhirVersion 4.0, charset utf-8 when given).
func rangeParams(params string) (q float64, ok bool) {
	q = 1
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch name {
		case "q":
			f, err := strconv.ParseFloat(value, 64)
			if err != nil || f < 0 || f > 1 {
				return 0, false
			}
			q = f
		case "fhirversion":
			if !fhirVersionOK("fhirVersion=" + value) {
				return 0, false
			}
		case "charset":
			if !strings.EqualFold(value, "utf-8") {
				return 0, false
			}
		}
	}
	return q, true
}

// fhirVersionOK reports whether media-type parameters name FHIR R4 (4.0) or no version.
func fhirVersionOK(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "fhirVersion") {
			switch strings.Trim(strings.TrimSpace(value), `"`) {
			case "4.0", "4.0.0", "4.0.1":
			default:
				return false
			}
		}
	}
	return true
}

// requireContentType checks a request body's Content-Type against the allowed media types;
// charset, when given, must be utf-8 and fhirVersion 4.0. Anything else is HTTP 415.
func requireContentType(c echo.Context, allowed ...string) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if contentTypeOK(ct, allowed) {
		return nil
	}
	if ct == "" {
		ct = "none"
	}
	return errorf(http.StatusUnsupportedMediaType, "not-supported",
		"Content-Type %s is not supported here; use %s (UTF-8)", ct, strings.Join(allowed, " or "))
}

func contentTypeOK(ct string, allowed []string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	if v, ok := params["fhirversion"]; ok && !fhirVersionOK("fhirVersion="+v) {
		return false
	}
	for _, a := range allowed {
		if mt == a {
			return true
		}
	}
	return false
}

// requireResourceBody is requireContentType for a resource body (POST, PUT).
func requireResourceBody(c echo.Context) error {
	return requireContentType(c, mimeFHIRJSON, mimeJSON, mimeFHIRJSONOld)
}
