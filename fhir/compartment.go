package fhir

import (
	"slices"
	"strings"
)

// CompartmentMember is a resource type that belongs to a compartment, with the search
// parameters whose values name the compartment's owner (for the Patient compartment, an
// Observation is in Patient/123's compartment when its subject or performer is Patient/123).
type CompartmentMember struct {
	ResourceType string
	Params       []string
}

// PatientCompartmentParams returns the search parameters that put a resource of this type in
// a patient's compartment, or nil when the type is never in it.
func PatientCompartmentParams(resourceType string) []string {
	i, found := slices.BinarySearchFunc(PatientCompartment, resourceType, func(m CompartmentMember, t string) int {
		return strings.Compare(m.ResourceType, t)
	})
	if !found {
		return nil
	}
	return PatientCompartment[i].Params
}
