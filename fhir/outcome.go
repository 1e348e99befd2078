package fhir

import (
	"net/http"
	"strings"
)

// Issue is one OperationOutcome.issue. Diagnostics may quote the client's data (PHI): it is fine
// in a response, never in logs; Summary-free logging uses Code and Expression only.
type Issue struct {
	Severity    string   // fatal | error | warning | information
	Code        string   // IssueType code: structure, required, value, code-invalid, not-found, ...
	Diagnostics string   // human-readable detail
	Expression  []string // FHIRPath of the element concerned, e.g. "Patient.birthDate"
}

// ValidationError reports why content is not an acceptable resource. Issues with code
// "structure" or "invalid" mean it could not be read as a resource at all (HTTP 400); the
// others are rule violations of content that was readable (HTTP 422).
type ValidationError struct {
	Issues []Issue
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid resource")
	for i, is := range e.Issues {
		if i == 3 {
			b.WriteString("; ...")
			break
		}
		b.WriteString("; ")
		if len(is.Expression) > 0 {
			b.WriteString(is.Expression[0])
			b.WriteString(": ")
		}
		b.WriteString(is.Diagnostics)
	}
	return b.String()
}

// Status is the HTTP status the error calls for: 400 when the content is unreadable as a
// resource, else 422.
func (e *ValidationError) Status() int {
	for _, is := range e.Issues {
		if is.Code == "structure" || is.Code == "invalid" {
			return http.StatusBadRequest
		}
	}
	return http.StatusUnprocessableEntity
}

// Outcome builds an OperationOutcome resource holding the issues.
func Outcome(issues ...Issue) Value {
	arr := make([]Value, 0, len(issues))
	for _, is := range issues {
		o := Value{Kind: Object}
		sev := is.Severity
		if sev == "" {
			sev = "error"
		}
		o.Set("severity", Str(sev))
		o.Set("code", Str(is.Code))
		if is.Diagnostics != "" {
			o.Set("diagnostics", Str(is.Diagnostics))
		}
		if len(is.Expression) > 0 {
			ex := Value{Kind: Array}
			for _, e := range is.Expression {
				ex.Arr = append(ex.Arr, Str(e))
			}
			o.Set("expression", ex)
		}
		arr = append(arr, o)
	}
	oo := Value{Kind: Object}
	oo.Set("resourceType", Str("OperationOutcome"))
	oo.Set("issue", Value{Kind: Array, Arr: arr})
	return oo
}
