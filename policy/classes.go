package policy

import (
	"slices"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// Class is how the policy treats a resource type for a caller confined to some patients (a
// patient/ token, a patient's or a carer's user/ token, a practitioner's user/ token confined
// to their organizations' patients). docs/smart.md lists every type's class.
type Class uint8

const (
	// ClassDenied: patient data that no parameter ties to one patient (Bundle, Binary,
	// Linkage, MessageHeader...), and every type the policy does not know: nothing, for a
	// confined caller. Fail closed.
	ClassDenied Class = iota
	// ClassPatient: the Patient resource itself, in its own compartment by its id only.
	ClassPatient
	// ClassCompartment: types of the R4 Patient CompartmentDefinition, and types outside it
	// that name their patient in a search parameter (Device, Contract, GuidanceResponse):
	// visible when in a reachable patient's compartment; written only when every patient
	// they name is reachable (see PatientsOf).
	ClassCompartment
	// ClassDirectory: shared directory and definitional types (Practitioner, Organization,
	// Location, Schedule, Slot, Medication, Questionnaire, ValueSet...): readable as the
	// scopes allow, written only by unconfined callers and staff.
	ClassDirectory
)

func (c Class) String() string {
	switch c {
	case ClassPatient:
		return "patient"
	case ClassCompartment:
		return "compartment"
	case ClassDirectory:
		return "directory"
	}
	return "denied"
}

// linkedParams are the types outside the R4 Patient compartment whose patient a reference
// parameter names: they are confined like compartment types, through these parameters.
var linkedParams = map[string][]string{
	"Device":           {"patient"},
	"Contract":         {"patient"},
	"GuidanceResponse": {"patient"},
}

// namingParams are the reference parameters through which a directory type may still name a
// patient: a Schedule is a clinic's calendar, read by every patient who books, but one whose
// actor is a Patient (a patient's own dialysis or therapy sessions) is that patient's. A
// confined caller reads such a resource only when it reaches a patient it names; one naming
// no patient stays shared.
var namingParams = map[string][]string{"Schedule": {"actor"}}

// Through is a reference by which a directory type's resources belong to another type's: a
// Slot is a time of its Schedule, and a confined caller sees it only when it may see that
// Schedule (the Slots of a patient's own Schedule tell when they have dialysis). A resource
// whose reference does not resolve to a current resource of the type is not seen.
type Through struct {
	Param string // the reference search parameter
	Type  string // the type it must resolve to
}

var throughParams = map[string]Through{"Slot": {Param: "schedule", Type: "Schedule"}}

// ThroughOf is the reference through which typ is confined, if any.
func ThroughOf(typ string) (Through, bool) {
	t, ok := throughParams[typ]
	return t, ok
}

// directoryTypes are shared by everyone: who works where, what can be booked, what exists.
// Schedule is in the R4 compartment (by actor) but is a clinic's calendar (see namingParams).
var directoryTypes = map[string]bool{
	"Practitioner": true, "PractitionerRole": true, "Organization": true, "OrganizationAffiliation": true,
	"Location": true, "HealthcareService": true, "Endpoint": true, "Schedule": true, "Slot": true,
	"InsurancePlan": true,
	// Medicines, substances and devices as products.
	"Medication": true, "MedicationKnowledge": true, "Substance": true, "SubstanceNucleicAcid": true,
	"SubstancePolymer": true, "SubstanceProtein": true, "SubstanceReferenceInformation": true,
	"SubstanceSourceMaterial": true, "SubstanceSpecification": true, "DeviceDefinition": true,
	"MedicinalProduct": true, "MedicinalProductAuthorization": true, "MedicinalProductContraindication": true,
	"MedicinalProductIndication": true, "MedicinalProductIngredient": true, "MedicinalProductInteraction": true,
	"MedicinalProductManufactured": true, "MedicinalProductPackaged": true, "MedicinalProductPharmaceutical": true,
	"MedicinalProductUndesirableEffect": true,
	// Definitions and knowledge.
	"ActivityDefinition": true, "PlanDefinition": true, "Questionnaire": true, "Library": true, "Measure": true,
	"ObservationDefinition": true, "SpecimenDefinition": true, "ChargeItemDefinition": true,
	"EventDefinition": true, "Evidence": true, "EvidenceVariable": true, "EffectEvidenceSynthesis": true,
	"RiskEvidenceSynthesis": true, "ResearchDefinition": true, "ResearchElementDefinition": true,
	"ResearchStudy": true, "CatalogEntry": true,
	// Conformance and terminology.
	"CapabilityStatement": true, "StructureDefinition": true, "StructureMap": true, "ImplementationGuide": true,
	"SearchParameter": true, "OperationDefinition": true, "CompartmentDefinition": true, "GraphDefinition": true,
	"MessageDefinition": true, "ExampleScenario": true, "TerminologyCapabilities": true, "CodeSystem": true,
	"ValueSet": true, "ConceptMap": true, "NamingSystem": true,
}

// reachTypes are the directory types that decide a staff user's reach (StaffReach
// organization: the patients of the organizations where they hold a PractitionerRole). A
// confined staff user may read them but not write them: a write could widen the writer's own
// reach (a role for oneself at another organization) or take another clinic's away (deleting
// its Organization). Administrators write them with system/ scopes.
var reachTypes = map[string]bool{"PractitionerRole": true, "Organization": true, "OrganizationAffiliation": true}

// ClassOf is the class of resource type typ.
func ClassOf(typ string) Class {
	switch {
	case typ == "Patient":
		return ClassPatient
	case directoryTypes[typ]:
		return ClassDirectory
	case fhir.PatientCompartmentParams(typ) != nil || linkedParams[typ] != nil:
		return ClassCompartment
	}
	return ClassDenied
}

// PatientParams are the reference parameters through which a resource of type typ belongs to
// a patient's compartment, or names a patient (namingParams); nil for other types.
func PatientParams(typ string) []string {
	if p := namingParams[typ]; p != nil {
		return p
	}
	if ClassOf(typ) != ClassCompartment {
		return nil
	}
	if p := linkedParams[typ]; p != nil {
		return p
	}
	return fhir.PatientCompartmentParams(typ)
}

// NamesPatient reports whether a resource version's PatientParams refer to a patient in any
// form: a local Patient/id, or a reference that names the Patient type without resolving to a
// patient here (another server's URL, an unresolved conditional reference: the index records
// the type alone, fhir.ReferenceTypeHint). A directory resource that names a patient is not
// shared, even when PatientsOf finds no patient in it: the search clause ("names no Patient")
// and the guard's check of one resource read the same entries.
func NamesPatient(typ string, index []store.IndexEntry) bool {
	params := PatientParams(typ)
	for _, e := range index {
		if e.Kind == store.KindReference && e.RefType == "Patient" && slices.Contains(params, e.Param) {
			return true
		}
	}
	return false
}

// PatientsOf lists the patients whose compartment a resource version belongs to: its own id
// for a Patient, else the patients its PatientParams refer to (sorted, without repeats). It
// reads the version's index entries (fhir.ExtractIndexBase), so that the policy, the search
// index and the hooks read references in one way.
func PatientsOf(typ, id string, index []store.IndexEntry) []string {
	if typ == "Patient" {
		return []string{id}
	}
	params := PatientParams(typ)
	var out []string
	for _, e := range index {
		if e.Kind == store.KindReference && e.RefType == "Patient" && e.RefID != "" && slices.Contains(params, e.Param) &&
			!slices.Contains(out, e.RefID) {
			out = append(out, e.RefID)
		}
	}
	slices.Sort(out)
	return out
}
