package fhir

import (
	"fmt"
	"strconv"
	"strings"
)

// pathSeg is one step of a FHIRPath: a JSON member name, with the index for repeating elements.
type pathSeg struct {
	name  string
	index int // -1 for elements that do not repeat
}

func (v *validator) push(name string, index int) { v.path = append(v.path, pathSeg{name, index}) }

func (v *validator) pop() { v.path = v.path[:len(v.path)-1] }

// name is the JSON name of the current element, for messages.
func (v *validator) name() string {
	if len(v.path) == 0 {
		return "the resource"
	}
	return v.path[len(v.path)-1].name
}

// report records an issue at the current path, or at its child tail when tail is not "".
func (v *validator) report(code, tail, format string, args ...any) {
	if v.stopped {
		return
	}
	if len(v.issues) == maxIssues {
		v.stopped = true
		v.issues = append(v.issues, Issue{Severity: "information", Code: "informational",
			Diagnostics: fmt.Sprintf("validation stopped after %d issues", maxIssues)})
		return
	}
	is := Issue{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)}
	if p := v.render(tail); p != "" {
		is.Expression = []string{p}
	}
	v.issues = append(v.issues, is)
}

// render writes the current path as FHIRPath: Patient.name[0].given[1].
func (v *validator) render(tail string) string {
	var b strings.Builder
	for _, seg := range v.path {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg.name)
		if seg.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(seg.index))
			b.WriteByte(']')
		}
	}
	if tail != "" {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tail)
	}
	return b.String()
}

// quote renders client data for a diagnostic, cut short so that a message never echoes a large
// input.
func quote(s string) string {
	const limit = 40 // characters
	n := 0
	for i := range s {
		if n == limit {
			return strconv.Quote(s[:i]) + "..."
		}
		n++
	}
	return strconv.Quote(s)
}

func kindName(k Kind) string {
	switch k {
	case Object:
		return "an object"
	case Array:
		return "an array"
	case Null:
		return "null"
	}
	return "a " + k.String()
}
