package policy

import (
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// Filter is what a restricted Decision lets through: a resource passes when it satisfies at
// least one Alternative (OR).
type Filter struct {
	Alternatives []Alternative
}

// Alternative is one scope's reach: the resource is in Patient's compartment (when Patient is
// set) and matches every granular Param (AND).
type Alternative struct {
	Patient string  // patient id; "" means no compartment restriction
	Params  []Param // granular token restrictions
}

// CompartmentRef is one way into a patient's compartment: the resource's reference search
// parameter Param points at Reference ("Patient/123"). For the Patient type itself Param is
// "_id" and Reference the bare id.
type CompartmentRef struct {
	Param     string
	Reference string
}

// InPatientCompartment reports whether resources of type typ belong to patients' compartments
// (R4 CompartmentDefinition patient; Patient itself by its id).
func InPatientCompartment(typ string) bool {
	return typ == "Patient" || fhir.PatientCompartmentParams(typ) != nil
}

// CompartmentRefs lists the ways a resource of type typ enters patient id's compartment;
// a resource is in it when any one holds (OR). Nil when typ is not in the compartment.
//
// Patient itself is in its own compartment by _id only: the CompartmentDefinition's "link"
// would let anyone who can write a Patient link it into another patient's compartment.
func CompartmentRefs(typ, patientID string) []CompartmentRef {
	if typ == "Patient" {
		return []CompartmentRef{{Param: "_id", Reference: patientID}}
	}
	params := fhir.PatientCompartmentParams(typ)
	out := make([]CompartmentRef, len(params))
	for i, p := range params {
		out[i] = CompartmentRef{Param: p, Reference: "Patient/" + patientID}
	}
	return out
}

// InCompartment reports whether the resource typ/id with these index entries is in patient
// patientID's compartment.
func InCompartment(typ, id string, index []store.IndexEntry, patientID string) bool {
	if patientID == "" {
		return false
	}
	if typ == "Patient" {
		return id == patientID
	}
	for _, param := range fhir.PatientCompartmentParams(typ) {
		for _, e := range index {
			if e.Param == param && refersTo(e, patientID) {
				return true
			}
		}
	}
	return false
}

func refersTo(e store.IndexEntry, patientID string) bool {
	return e.Kind == store.KindReference && e.RefType == "Patient" && e.RefID == patientID
}

// Matches reports whether one resource passes the filter.
func (f *Filter) Matches(typ, id string, index []store.IndexEntry) bool {
	if f == nil {
		return true
	}
	for _, a := range f.Alternatives {
		if a.Matches(typ, id, index) {
			return true
		}
	}
	return false
}

// Matches reports whether one resource satisfies the alternative.
func (a Alternative) Matches(typ, id string, index []store.IndexEntry) bool {
	if a.Patient != "" && InPatientCompartment(typ) && !InCompartment(typ, id, index, a.Patient) {
		return false
	}
	for _, p := range a.Params {
		if !tokenMatches(p, index) {
			return false
		}
	}
	return true
}

func tokenMatches(p Param, index []store.IndexEntry) bool {
	for _, e := range index {
		if e.Param == p.Name && e.Kind == store.KindToken && e.Code == p.Code && (!p.HasSystem || e.System == p.System) {
			return true
		}
	}
	return false
}

// senderOK: when an alternative confines the caller to a patient's compartment, the
// Communication written must name that patient, and only that patient, as sender.
func (f *Filter) senderOK(index []store.IndexEntry) bool {
	confined := false
	for _, a := range f.Alternatives {
		if a.Patient == "" {
			continue
		}
		confined = true
		n, ok := 0, true
		for _, e := range index {
			if e.Param != "sender" {
				continue
			}
			n++
			if !refersTo(e, a.Patient) {
				ok = false
			}
		}
		if ok && n > 0 {
			return true
		}
	}
	return !confined
}

// Clauses expresses the filter for resource type typ as clauses to AND into a store.Query:
// the resources they match are exactly those Matches lets through. Each alternative is one
// group, the OR of the groups a store.Clause AnyOf (a single alternative needs none); within a
// group, a compartment with several ways in (Observation by subject or performer) is itself
// an AnyOf, and the granular token parameters are ANDed. ok is false only for a system-level
// search (typ ""), whose results the caller checks each by its own type with Matches.
func (f *Filter) Clauses(typ string) (clauses []store.Clause, ok bool) {
	if f == nil {
		return nil, true
	}
	if typ == "" {
		return nil, false
	}
	if len(f.Alternatives) == 1 {
		return f.Alternatives[0].clauses(typ), true
	}
	groups := make([][]store.Clause, 0, len(f.Alternatives)) // never nil: no alternative matches nothing
	for _, a := range f.Alternatives {
		groups = append(groups, a.clauses(typ))
	}
	return []store.Clause{{AnyOf: groups}}, true
}

// clauses is one alternative for type typ, as ANDed clauses (none: no restriction).
func (a Alternative) clauses(typ string) []store.Clause {
	var out []store.Clause
	if a.Patient != "" && InPatientCompartment(typ) {
		refs := CompartmentRefs(typ, a.Patient)
		ways := make([][]store.Clause, 0, len(refs))
		for _, r := range refs {
			if r.Param == "_id" {
				ways = append(ways, []store.Clause{{Param: "_id", Kind: store.KindToken,
					Values: []store.Value{{Code: r.Reference, AnySystem: true}}}})
				continue
			}
			ways = append(ways, []store.Clause{{Param: r.Param, Kind: store.KindReference,
				Values: []store.Value{{RefType: "Patient", RefID: a.Patient}}}})
		}
		if len(ways) == 1 {
			out = append(out, ways[0]...)
		} else {
			out = append(out, store.Clause{AnyOf: ways})
		}
	}
	for _, p := range a.Params {
		v := store.Value{Code: p.Code, AnySystem: !p.HasSystem}
		if p.HasSystem {
			v.System = p.System
		}
		out = append(out, store.Clause{Param: p.Name, Kind: store.KindToken, Values: []store.Value{v}})
	}
	return out
}
