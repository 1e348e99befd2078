package api

import "github.com/portico-health/portico/fhir"

// DefaultResourceTypes are the types served when Config.ResourceTypes is nil: every concrete
// FHIR R4 resource type.
var DefaultResourceTypes = fhir.ResourceTypes

// validType reports whether s has the shape of a resource type name: an ASCII letter
// followed by letters and digits.
func validType(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// validID reports whether s is a FHIR id: 1 to 64 of [A-Za-z0-9-.] (datatypes.html#id).
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}
