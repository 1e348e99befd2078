package policy

import (
	"fmt"
	"slices"

	"github.com/portico-health/portico/store"
)

// StaffReach is what a practitioner's user/ scopes reach (Options.StaffReach).
type StaffReach uint8

const (
	// ReachOrganization: the patients of the practitioner's organizations (a PractitionerRole
	// names the organization, the Patient's managingOrganization names it too), of the care
	// teams the practitioner belongs to, and those whose general practitioner they are.
	ReachOrganization StaffReach = iota
	// ReachAll: every patient (a single-practice deployment).
	ReachAll
)

// ParseStaffReach reads the --staff-reach flag: "organization" or "all".
func ParseStaffReach(s string) (StaffReach, error) {
	switch s {
	case "", "organization":
		return ReachOrganization, nil
	case "all":
		return ReachAll, nil
	}
	return 0, fmt.Errorf("policy: staff reach %q: want organization or all", s)
}

func (r StaffReach) String() string {
	if r == ReachAll {
		return "all"
	}
	return "organization"
}

// Options configure a Policy.
type Options struct {
	StaffReach StaffReach
}

// Policy decides what a Principal may do. It is pure: its answers depend on its options and
// its arguments only; the guard package evaluates them against the store.
type Policy struct{ opts Options }

// New returns the policy with the given options.
func New(o Options) *Policy { return &Policy{opts: o} }

// Options returns the policy's options.
func (pol *Policy) Options() Options { return pol.opts }

// Decision is the policy's answer for one resource type and one permission. A denial is HTTP
// 403 (the token is valid but not enough); a missing or invalid token never reaches the
// policy (HTTP 401).
type Decision struct {
	Type   string
	Perm   Perm
	Allow  bool
	Reason string // PHI-free, for logs and OperationOutcome diagnostics

	// Alternatives restrict an allowed decision: a resource passes when it satisfies at least
	// one (OR). None: the decision is unrestricted, for every resource of the type.
	Alternatives []Alternative
}

// Alternative is one scope's reach over the type.
type Alternative struct {
	// Patients, when set, confines the alternative to patients' data. For reads and searches
	// a resource passes when it is in the compartment of at least one of them (PatientsOf
	// intersects the set). For writes, a version passes when it names at least one patient
	// and every patient it names is one of them: no write reaches into the chart of a patient
	// the caller cannot see, whatever parameter names that patient.
	Patients *PatientSet
	// Params are the granular restrictions of a v2 scope (?category=...): every one must match.
	Params []Param
	// Self is the user's own resource ("RelatedPerson/r1") when the alternative comes from a
	// user/ scope; Staff is true for a practitioner's. A patient, carer or Person (not staff)
	// writing a Communication must be its sender, or send as the patient (SenderOK).
	Self  string
	Staff bool
	// Shared, with Patients, lets through a resource that names no patient at all: a
	// directory type that may name one (namingParams: a Schedule of a Patient actor), or
	// whose resources are another's (ThroughOf: a Slot, when its Schedule passes).
	Shared bool
}

// PatientSet is a set of patients: listed by id, or described by clauses on Patient that the
// store evaluates (a practitioner's organizations' patients, a Person's linked patients).
// Exactly one of the two is set.
type PatientSet struct {
	IDs   []string
	Where []store.Clause
}

// Restricted reports whether an allowed decision has alternatives (resources must be checked).
func (d Decision) Restricted() bool { return len(d.Alternatives) > 0 }

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

// Deny is a DeniedError with a formatted reason (no PHI).
func Deny(format string, args ...any) *DeniedError {
	return &DeniedError{Reason: fmt.Sprintf(format, args...)}
}

var permVerbs = map[Perm]string{PermCreate: "create", PermRead: "read", PermUpdate: "update", PermDelete: "delete", PermSearch: "search"}

// Decide is the decision for using permission perm (one of c r u d s) on resource type typ.
//
// Each granted resource scope naming typ (or *) with perm gives one alternative:
//   - system/: the whole type;
//   - patient/: the launch patient (no launch patient: nothing);
//   - user/: by the kind of fhirUser: a Patient, that patient; a RelatedPerson, the launch
//     patient; a Person, the patients it links to; a Practitioner or PractitionerRole (staff),
//     the patients of Options.StaffReach; anyone else, nothing.
//
// A confined alternative then depends on the type's class (ClassOf): patient data is confined
// to the patients; directory types are unrestricted to read and written by staff only; other
// types are out of reach. The request is allowed when an alternative remains, and the
// decision is unrestricted when one of them is.
func (pol *Policy) Decide(p Principal, typ string, perm Perm) Decision {
	d := Decision{Type: typ, Perm: perm}
	write := perm&(PermCreate|PermUpdate|PermDelete) != 0
	class := ClassOf(typ)
	matched, unrestricted := false, false
	var alts []Alternative
	for _, s := range p.Scopes {
		if s.Kind != KindResource || !s.Perms.Has(perm) || (s.Type != "*" && s.Type != typ) {
			continue
		}
		matched = true
		set, staff, ok := pol.reach(p, s.Context)
		if !ok {
			continue
		}
		alt := Alternative{Params: s.Params, Staff: staff}
		if s.Context == ContextUser {
			alt.Self = p.FHIRUser
		}
		if set != nil {
			switch class {
			case ClassPatient, ClassCompartment:
				alt.Patients = set
			case ClassDirectory:
				// Shared data: a confined user reads it, and writes none of it. Staff of one
				// clinic could otherwise rename another clinic's Practitioner or move its
				// Location; a role or an organization could widen their own reach.
				// Administrators write it with system/ scopes (or staff with --staff-reach all).
				if write {
					continue
				}
				if _, through := throughParams[typ]; namingParams[typ] != nil || through {
					alt.Patients, alt.Shared = set, true
				}
			default:
				continue
			}
		}
		if alt.Patients == nil && len(alt.Params) == 0 {
			unrestricted = true
			continue
		}
		if !slices.ContainsFunc(alts, alt.equal) {
			alts = append(alts, alt)
		}
	}
	verb := permVerbs[perm]
	if verb == "" {
		verb = "use"
	}
	switch {
	case !matched:
		d.Reason = fmt.Sprintf("no granted scope allows %s on %s", verb, typ)
	case unrestricted:
		d.Allow = true
	case len(alts) == 0:
		d.Reason = fmt.Sprintf("the scopes that allow %s on %s reach no %s for this user", verb, typ, typ)
		if class == ClassDenied {
			d.Reason = fmt.Sprintf("%s is not available to a token confined to patients' data (docs/smart.md)", typ)
		} else if class == ClassDirectory && write && reachTypes[typ] {
			d.Reason = fmt.Sprintf("%s decides what staff users reach: only system/ scopes (or staff with unrestricted reach) may %s it", typ, verb)
		} else if class == ClassDirectory && write {
			d.Reason = fmt.Sprintf("%s is shared directory data: only system/ scopes (or staff with unrestricted reach) may %s it", typ, verb)
		}
	default:
		d.Allow, d.Alternatives = true, pruned(alts)
	}
	return d
}

// pruned drops the alternatives another one subsumes: the same reach with fewer parameters
// lets through everything they let through (patient/Observation.rs beside
// patient/Observation.rs?category=laboratory).
func pruned(alts []Alternative) []Alternative {
	var out []Alternative
	for i, a := range alts {
		subsumed := false
		for j, b := range alts {
			if i != j && b.Patients.equal(a.Patients) && b.Self == a.Self && b.Staff == a.Staff && b.Shared == a.Shared &&
				len(b.Params) < len(a.Params) && subset(b.Params, a.Params) {
				subsumed = true
				break
			}
		}
		if !subsumed {
			out = append(out, a)
		}
	}
	return out
}

func subset(small, big []Param) bool {
	for _, p := range small {
		if !slices.Contains(big, p) {
			return false
		}
	}
	return true
}

func (a Alternative) equal(b Alternative) bool {
	return slices.Equal(a.Params, b.Params) && a.Patients.equal(b.Patients) && a.Self == b.Self && a.Staff == b.Staff &&
		a.Shared == b.Shared
}

func (s *PatientSet) equal(t *PatientSet) bool {
	if s == nil || t == nil {
		return s == t
	}
	return slices.Equal(s.IDs, t.IDs) && fmt.Sprint(s.Where) == fmt.Sprint(t.Where)
}

// reach is the patients a scope context reaches for p (nil: not confined), whether p is
// staff, and ok false when the scope reaches nothing.
func (pol *Policy) reach(p Principal, c Context) (set *PatientSet, staff, ok bool) {
	switch c {
	case ContextSystem:
		return nil, false, true
	case ContextPatient:
		if p.Patient == "" {
			return nil, false, false
		}
		return &PatientSet{IDs: []string{p.Patient}}, false, true
	case ContextUser:
	default:
		return nil, false, false
	}
	typ, id := p.fhirUserRef()
	if id == "" {
		return nil, false, false
	}
	switch typ {
	case "Patient":
		return &PatientSet{IDs: []string{id}}, false, true
	case "RelatedPerson":
		if p.Patient == "" {
			return nil, false, false
		}
		return &PatientSet{IDs: []string{p.Patient}}, false, true
	case "Person":
		if p.ReachResolved {
			return &PatientSet{IDs: p.ReachIDs}, false, true
		}
		return &PatientSet{Where: []store.Clause{hasClause("Person", "patient", idClause(id))}}, false, true
	case "Practitioner", "PractitionerRole":
		if pol.opts.StaffReach == ReachAll {
			return nil, true, true
		}
		if p.ReachResolved {
			return &PatientSet{IDs: p.ReachIDs}, true, true
		}
		return &PatientSet{Where: staffPatients(typ, id)}, true, true
	}
	return nil, false, false
}

// ReachWhere is the clauses on Patient that find the patients p's user/ scopes reach when
// they are described rather than listed (a Person's linked patients, a practitioner's under
// ReachOrganization); nil otherwise. The guard resolves them to ids once a request
// (Principal.ReachIDs).
func (pol *Policy) ReachWhere(p Principal) []store.Clause {
	if p.ReachResolved {
		return nil
	}
	set, _, ok := pol.reach(p, ContextUser)
	if !ok || set == nil || set.Where == nil {
		return nil
	}
	return set.Where
}

// staffPatients are the clauses on Patient that select a practitioner's (or a role's)
// patients under ReachOrganization: managed by an organization where they hold a role, in a
// care team they are a member of, or with them as general practitioner.
func staffPatients(typ, id string) []store.Clause {
	me := refValue(typ, id)
	var inOrg store.Clause
	if typ == "Practitioner" {
		inOrg = store.Clause{Param: "organization", Kind: store.KindReference, Chain: &store.Query{
			Types: []string{"Organization"},
			Where: []store.Clause{hasClause("PractitionerRole", "organization",
				store.Clause{Param: "practitioner", Kind: store.KindReference, Values: []store.Value{me}})},
		}}
	} else {
		inOrg = store.Clause{Param: "organization", Kind: store.KindReference, Chain: &store.Query{
			Types: []string{"Organization"},
			Where: []store.Clause{hasClause("PractitionerRole", "organization", idClause(id))},
		}}
	}
	careTeam := hasClause("CareTeam", "patient",
		store.Clause{Param: "participant", Kind: store.KindReference, Values: []store.Value{me}})
	gp := store.Clause{Param: "general-practitioner", Kind: store.KindReference, Values: []store.Value{me}}
	return []store.Clause{{AnyOf: [][]store.Clause{{inOrg}, {careTeam}, {gp}}}}
}

func refValue(typ, id string) store.Value { return store.Value{RefType: typ, RefID: id} }

func idClause(ids ...string) store.Clause {
	c := store.Clause{Param: "_id", Kind: store.KindToken}
	for _, id := range ids {
		c.Values = append(c.Values, store.Value{Code: id, AnySystem: true})
	}
	return c
}

func hasClause(typ, param string, where ...store.Clause) store.Clause {
	return store.Clause{Param: "_has", Kind: store.KindSpecial, Has: &store.Has{Type: typ, Param: param, Where: where}}
}

// Clauses expresses an allowed decision's alternatives as clauses to AND into a search of its
// type: the current resources they match are exactly those the alternatives let through for a
// read or a search. Nil for an unrestricted decision; a clause that matches nothing for a
// denied one.
func (d Decision) Clauses() []store.Clause {
	if !d.Allow {
		return []store.Clause{{AnyOf: [][]store.Clause{}}}
	}
	switch len(d.Alternatives) {
	case 0:
		return nil
	case 1:
		return d.Alternatives[0].clauses(d.Type)
	}
	groups := make([][]store.Clause, 0, len(d.Alternatives))
	for _, a := range d.Alternatives {
		groups = append(groups, a.clauses(d.Type))
	}
	return []store.Clause{{AnyOf: groups}}
}

// clauses is one alternative for type typ as ANDed clauses.
func (a Alternative) clauses(typ string) []store.Clause {
	var out []store.Clause
	if th, ok := throughParams[typ]; ok && a.Patients != nil && a.Shared {
		// Its reference resolves to a resource of the type this alternative lets through.
		owner := Alternative{Patients: a.Patients, Shared: true}.clauses(th.Type)
		out = append(out, store.Clause{Param: th.Param, Kind: store.KindReference,
			Chain: &store.Query{Types: []string{th.Type}, Where: owner}})
	} else if a.Patients != nil && a.Shared {
		// In a reachable patient's compartment, or naming no patient by any naming parameter.
		var none []store.Clause
		for _, param := range PatientParams(typ) {
			none = append(none, store.Clause{Param: param, Kind: store.KindReference, Modifier: store.ModNot,
				Values: []store.Value{{RefType: "Patient"}}})
		}
		out = append(out, store.Clause{AnyOf: [][]store.Clause{a.Patients.compartment(typ), none}})
	} else if a.Patients != nil {
		out = append(out, a.Patients.compartment(typ)...)
	}
	for _, p := range a.Params {
		out = append(out, store.Clause{Param: p.Name, Kind: store.KindToken, Values: []store.Value{p.value()}})
	}
	return out
}

// compartment is "in the compartment of one of the set's patients" for type typ.
func (s *PatientSet) compartment(typ string) []store.Clause {
	if typ == "Patient" {
		if s.Where != nil {
			return slices.Clone(s.Where)
		}
		return []store.Clause{idClause(s.IDs...)}
	}
	var ways [][]store.Clause
	for _, param := range PatientParams(typ) {
		c := store.Clause{Param: param, Kind: store.KindReference}
		if s.Where != nil {
			c.Chain = &store.Query{Types: []string{"Patient"}, Where: s.Where}
		} else {
			for _, id := range s.IDs {
				c.Values = append(c.Values, refValue("Patient", id))
			}
		}
		ways = append(ways, []store.Clause{c})
	}
	switch len(ways) {
	case 0:
		return []store.Clause{{AnyOf: [][]store.Clause{}}} // not patient data: no way in
	case 1:
		return ways[0]
	}
	return []store.Clause{{AnyOf: ways}}
}

// PatientClauses are clauses on Patient selecting the set's patients.
func (s *PatientSet) PatientClauses() []store.Clause { return s.compartment("Patient") }

func (p Param) value() store.Value {
	v := store.Value{Code: p.Code, AnySystem: !p.HasSystem}
	if p.HasSystem {
		v.System = p.System
	}
	return v
}

// ParamsMatch reports whether a resource version's index entries satisfy every granular
// parameter of the alternative (as the store matches a token clause).
func (a Alternative) ParamsMatch(index []store.IndexEntry) bool {
	for _, p := range a.Params {
		if !slices.ContainsFunc(index, func(e store.IndexEntry) bool {
			return e.Param == p.Name && e.Kind == store.KindToken && e.Code == p.Code && (!p.HasSystem || e.System == p.System)
		}) {
			return false
		}
	}
	return true
}

// SenderOK is the authorship rule of a write under a confined alternative that is not staff's:
// a Communication names a sender, and every sender is one of the given patients (those the
// version names, already checked to be reachable) or the user's own resource. A patient cannot
// write a message that looks as if the practice sent it.
func (a Alternative) SenderOK(typ string, index []store.IndexEntry, patients []string) bool {
	if typ != "Communication" || a.Patients == nil || a.Staff {
		return true
	}
	n := 0
	for _, e := range index {
		if e.Param != "sender" {
			continue
		}
		n++
		self := a.Self != "" && e.RefType+"/"+e.RefID == a.Self
		if !(e.RefType == "Patient" && slices.Contains(patients, e.RefID)) && !self {
			return false
		}
	}
	return n > 0
}
