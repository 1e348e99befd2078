package conformance

import (
	"mime"
	"strconv"
	"strings"
)

// jsonTypes are the media types that mean FHIR JSON: the R4 type, plain JSON (which R4
// http.html#mime-type says servers should accept), and the DSTU2 type older clients still send.
var jsonTypes = map[string]bool{
	"application/fhir+json": true,
	"application/json":      true,
	"application/json+fhir": true,
}

// acceptsJSON reports whether a request lets the server answer in FHIR JSON. _format, when
// present, overrides Accept (R4 http.html#mime-type): "json" or a JSON media type. Otherwise an
// absent or empty Accept accepts anything, and any other must hold a JSON type, application/* or
// */* with a non-zero quality.
func acceptsJSON(format string, accept []string) bool {
	if format != "" {
		if format == "json" {
			return true
		}
		mt, _, err := mime.ParseMediaType(format)
		return err == nil && jsonTypes[mt]
	}
	ranges := 0
	for _, header := range accept {
		for _, rng := range strings.Split(header, ",") {
			if strings.TrimSpace(rng) == "" {
				continue
			}
			ranges++
			mt, params, err := mime.ParseMediaType(rng)
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			if jsonTypes[mt] || mt == "*/*" || mt == "application/*" {
				return true
			}
		}
	}
	// An absent or empty Accept accepts any media type (RFC 9110 §12.5.1).
	return ranges == 0
}
