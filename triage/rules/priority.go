package rules

import "fmt"

// Priority is a FHIR request-priority code, ordered: Routine < Urgent < ASAP < Stat
// (http://hl7.org/fhir/R4/valueset-request-priority.html).
type Priority int8

const (
	Routine Priority = iota
	Urgent
	ASAP
	Stat
)

var priorityCodes = [...]string{"routine", "urgent", "asap", "stat"}

// String returns the FHIR code.
func (p Priority) String() string {
	if p < Routine || p > Stat {
		return fmt.Sprintf("Priority(%d)", int(p))
	}
	return priorityCodes[p]
}

// ParsePriority reads a FHIR request-priority code.
func ParsePriority(code string) (Priority, bool) {
	for i, c := range priorityCodes {
		if c == code {
			return Priority(i), true
		}
	}
	return Routine, false
}
