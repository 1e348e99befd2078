package fhir

import (
	"slices"
	"strings"
)

// ValueSet is the code set of a value set that R4 binds with strength "required".
type ValueSet struct {
	URL        string
	Name       string
	Enumerable bool      // false when the codes cannot be listed; such bindings are not checked
	Reason     string    // why the value set is not enumerable
	Codes      []Concept // sorted by Code, then System
}

// Concept is one code of a value set.
type Concept struct {
	System string
	Code   string
}

// HasCode reports whether the value set holds code in any system (what an element of type code
// means: its system is implied by the binding).
func (vs *ValueSet) HasCode(code string) bool {
	_, found := vs.find(code)
	return found
}

// Contains reports whether the value set holds code in system.
func (vs *ValueSet) Contains(system, code string) bool {
	i, found := vs.find(code)
	if !found {
		return false
	}
	for _, c := range vs.Codes[i:] {
		if c.Code != code {
			return false
		}
		if c.System == system {
			return true
		}
	}
	return false
}

func (vs *ValueSet) find(code string) (int, bool) {
	return slices.BinarySearchFunc(vs.Codes, code, func(c Concept, code string) int {
		return strings.Compare(c.Code, code)
	})
}

// LookupValueSet returns the required-binding value set with this url (without a |version),
// or nil.
func LookupValueSet(url string) *ValueSet {
	i, found := slices.BinarySearchFunc(valueSetTable[:], url, func(vs ValueSet, url string) int {
		return strings.Compare(vs.URL, url)
	})
	if !found {
		return nil
	}
	return &valueSetTable[i]
}
