package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"strings"
)

// obj is a decoded JSON object. Numbers are json.Number, so that their literal text survives.
type obj = map[string]any

// decodeJSON decodes one JSON value keeping number literals, and rejects trailing data.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

// want fails unless the status is one of codes; the error quotes what the server said.
func (r *response) want(codes ...int) error {
	if slices.Contains(codes, r.status) {
		return nil
	}
	want := fmt.Sprint(codes[0])
	if len(codes) > 1 {
		want = "one of " + fmt.Sprint(codes)
	}
	return fmt.Errorf("%s, want %s%s", r, want, r.said())
}

// said summarises the body of a response for an error message: the OperationOutcome's
// diagnostics when there is one, else the start of the body.
func (r *response) said() string {
	if len(r.body) == 0 {
		return ""
	}
	if v, err := decodeJSON(r.body); err == nil {
		if o, ok := v.(obj); ok && o["resourceType"] == "OperationOutcome" {
			var parts []string
			for _, is := range list(o["issue"]) {
				parts = append(parts, fmt.Sprintf("%s/%s: %s", str(is, "severity"), str(is, "code"), str(is, "diagnostics")))
			}
			return " (OperationOutcome: " + strings.Join(parts, "; ") + ")"
		}
	}
	const n = 200
	b := string(r.body)
	if len(b) > n {
		b = b[:n] + "..."
	}
	return fmt.Sprintf(" (body: %q)", b)
}

// resource decodes the body as a resource of the given type, checking the content type.
func (r *response) resource(typ string) (obj, error) {
	if err := r.fhirJSON(); err != nil {
		return nil, err
	}
	v, err := decodeJSON(r.body)
	if err != nil {
		return nil, fmt.Errorf("%s: body is not JSON: %v", r, err)
	}
	o, ok := v.(obj)
	if !ok || o["resourceType"] != typ {
		return nil, fmt.Errorf("%s: body is not a %s resource%s", r, typ, r.said())
	}
	return o, nil
}

// fhirJSON fails unless the response is labelled application/fhir+json.
func (r *response) fhirJSON() error {
	ct := r.header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/fhir+json" {
		return fmt.Errorf("%s: Content-Type %q, want application/fhir+json", r, ct)
	}
	return nil
}

// outcome fails unless the response has the status and carries an OperationOutcome with at
// least one issue having a severity and a code: R4 http.html says errors SHOULD return one, and
// a client needs it to tell the user what went wrong.
func (r *response) outcome(status int) error {
	if err := r.want(status); err != nil {
		return err
	}
	oo, err := r.resource("OperationOutcome")
	if err != nil {
		return err
	}
	issues := list(oo["issue"])
	if len(issues) == 0 {
		return fmt.Errorf("%s: OperationOutcome without issues", r)
	}
	for i, is := range issues {
		if str(is, "severity") == "" || str(is, "code") == "" {
			return fmt.Errorf("%s: OperationOutcome.issue[%d] lacks severity or code", r, i)
		}
	}
	return nil
}

// etag fails unless the ETag header is the weak validator of versionID: W/"<versionId>"
// (R4 http.html#versioning).
func (r *response) etag(versionID string) error {
	want := `W/"` + versionID + `"`
	if got := r.header.Get("ETag"); got != want {
		return fmt.Errorf("%s: ETag %q, want %q", r, got, want)
	}
	return nil
}

// str follows keys (string) and indices (int) into a decoded JSON value and returns the string
// found there, or "".
func str(v any, path ...any) string {
	s, _ := at(v, path...).(string)
	return s
}

// list is the array found at path, or nil.
func list(v any, path ...any) []any {
	l, _ := at(v, path...).([]any)
	return l
}

func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			o, ok := v.(obj)
			if !ok {
				return nil
			}
			v = o[k]
		case int:
			l, ok := v.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}
