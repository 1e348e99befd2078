package policy

import (
	"fmt"

	"github.com/portico-health/portico/store"
)

// Interaction is a FHIR RESTful interaction (R4 http.html), as the policy sees it.
type Interaction uint8

const (
	InteractionRead Interaction = iota + 1
	InteractionVRead
	InteractionSearch
	InteractionCreate
	InteractionUpdate
	InteractionPatch
	InteractionDelete
	InteractionHistory // instance history with Request.ID set; type or system history without
	InteractionOperation
)

var interactionNames = [...]string{"", "read", "vread", "search", "create", "update", "patch", "delete", "history", "operation"}

func (i Interaction) String() string {
	if int(i) < len(interactionNames) {
		return interactionNames[i]
	}
	return "?"
}

// need is the SMART v2 permission an interaction requires. v1 .read is r+s and .write c+u+d.
// Instance history reads one resource (r); type and system history list many (s). Operations
// need r on their type for now (an operation that writes must be authorized by its handler as
// the writes it makes).
func (r Request) need() Perm {
	switch r.Interaction {
	case InteractionRead, InteractionVRead, InteractionOperation:
		return PermRead
	case InteractionSearch:
		return PermSearch
	case InteractionHistory:
		if r.ID != "" {
			return PermRead
		}
		return PermSearch
	case InteractionCreate:
		return PermCreate
	case InteractionUpdate, InteractionPatch:
		return PermUpdate
	case InteractionDelete:
		return PermDelete
	}
	return PermAll // unknown interactions need everything: fail closed
}

func (r Request) isWrite() bool {
	return r.Interaction == InteractionCreate || r.Interaction == InteractionUpdate || r.Interaction == InteractionPatch
}

// Request describes one thing a caller wants to do.
type Request struct {
	Interaction Interaction
	Type        string // resource type; "" for system-level search, history and operations
	ID          string // resource id, when the interaction names one
	Operation   string // e.g. "$everything", for InteractionOperation

	// Resource is the resource concerned, when it is known: the stored version for read,
	// vread, delete and each search, include or history result; the new version for create,
	// update and patch (call Authorize again with the stored version for update, patch and
	// delete). With a Resource, Authorize also checks the compartment and granular filters.
	Resource *Resource
}

// Resource is what the policy needs to know of one resource: its id and its index entries
// (fhir.ExtractIndex), from which compartment membership and granular token values are read.
type Resource struct {
	ID    string
	Index []store.IndexEntry
}

// Decision is the policy's answer. A denial is HTTP 403 (the token is valid but not enough);
// a missing or invalid token never reaches the policy and is 401 (see Server.Authenticate).
type Decision struct {
	Allow  bool
	Reason string // PHI-free, safe for logs and for an OperationOutcome's diagnostics

	// Filter, when not nil, restricts what the request may see or write: every resource a
	// read, search, include or history returns must satisfy it (search: add Filter.Clauses to
	// the query, or drop non-matching results with Filter.Matches).
	Filter *Filter
}

func deny(format string, args ...any) Decision {
	return Decision{Reason: fmt.Sprintf(format, args...)}
}

// Authorize decides whether p may make request r. It is a pure function of its arguments.
//
// Scopes that apply are the resource scopes naming r.Type (or "*") with the permission the
// interaction needs. Each gives one alternative:
//   - system/: everything of that type;
//   - user/: for a user whose fhirUser is a Patient, that patient's compartment; for a
//     RelatedPerson, the launch patient's compartment (none: nothing); for anyone else (a
//     Practitioner), everything. A user/ scope without a fhirUser grants nothing;
//   - patient/: the launch patient's compartment (no launch patient: nothing).
//
// A compartment restricts only the types in the R4 Patient CompartmentDefinition (Patient
// itself by its id); types outside it (Medication, Practitioner, Organization...) are not any
// patient's data and are not restricted. Granular parameters (?category=...) narrow an
// alternative further. The request is allowed when some alternative exists; when any is
// unrestricted the Decision has no Filter.
//
// Patient-compartment writes of a Communication must have the patient as sender.
func Authorize(p Principal, r Request) Decision {
	need := r.need()
	typ := r.Type
	var alts []Alternative
	unrestricted := false
	matched := false
	for _, s := range p.Scopes {
		if s.Kind != KindResource || !s.Perms.Has(need) || (s.Type != "*" && s.Type != typ) {
			continue
		}
		matched = true
		alt := Alternative{Params: s.Params}
		switch s.Context {
		case ContextSystem:
		case ContextUser:
			ut, uid := p.fhirUserRef()
			switch ut {
			case "":
				continue
			case "Patient":
				alt.Patient = uid
			case "RelatedPerson":
				if p.Patient == "" {
					continue
				}
				alt.Patient = p.Patient
			}
		case ContextPatient:
			if p.Patient == "" {
				continue
			}
			alt.Patient = p.Patient
		default:
			continue
		}
		if alt.Patient != "" && typ != "" && !InPatientCompartment(typ) {
			alt.Patient = "" // not patient data
		}
		if alt.Patient == "" && len(alt.Params) == 0 {
			unrestricted = true
			continue
		}
		alts = append(alts, alt)
	}
	if !matched {
		return deny("no granted scope allows %s on %s", r.Interaction, typeName(typ))
	}
	var d Decision
	switch {
	case unrestricted:
		d = Decision{Allow: true}
	case len(alts) == 0:
		return deny("the scopes that allow %s on %s need a launch patient or a user", r.Interaction, typeName(typ))
	default:
		d = Decision{Allow: true, Filter: &Filter{Alternatives: alts}}
	}
	if r.Resource == nil {
		return d
	}
	if d.Filter != nil && !d.Filter.Matches(typ, r.Resource.ID, r.Resource.Index) {
		return deny("the %s is outside what the token's scopes reach", typeName(typ))
	}
	if r.isWrite() && typ == "Communication" && d.Filter != nil && !d.Filter.senderOK(r.Resource.Index) {
		return deny("a patient may only send a Communication as its sender")
	}
	return d
}

func typeName(t string) string {
	if t == "" {
		return "the system"
	}
	return t
}

// Err is nil for an allowed decision, else a *DeniedError carrying the reason.
func (d Decision) Err() error {
	if d.Allow {
		return nil
	}
	return &DeniedError{Reason: d.Reason}
}

// DeniedError is a refusal by the policy: the caller is known, but may not do this. The API
// answers HTTP 403 with an insufficient_scope challenge (RFC 6750 §3.1). Reason is PHI-free.
type DeniedError struct {
	Reason string
}

func (e *DeniedError) Error() string { return "policy: denied: " + e.Reason }
