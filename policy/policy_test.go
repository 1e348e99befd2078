package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
)

// describe writes a decision compactly: deny, all, or each alternative's reach.
func describe(d Decision) string {
	if !d.Allow {
		return "deny"
	}
	if !d.Restricted() {
		return "all"
	}
	var parts []string
	for _, a := range d.Alternatives {
		s := ""
		switch {
		case a.Patients == nil:
			s = "any"
		case a.Patients.Where != nil:
			s = "where"
		default:
			s = strings.Join(a.Patients.IDs, "+")
		}
		for _, p := range a.Params {
			s += "?" + p.String()
		}
		if a.Shared {
			s += " or none"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "|")
}

func TestDecide(t *testing.T) {
	pol := New(Options{})
	all := New(Options{StaffReach: ReachAll})
	type c struct {
		name string
		pol  *Policy
		p    Principal
		typ  string
		perm Perm
		want string
	}
	patient := func(s string) Principal { return Principal{Scopes: mustScopes(t, s), Patient: "a"} }
	user := func(who, s string) Principal { return Principal{Scopes: mustScopes(t, s), FHIRUser: who, Patient: "a"} }
	cases := []c{
		{"system reaches the type", pol, Principal{Scopes: mustScopes(t, "system/Observation.rs")}, "Observation", PermRead, "all"},
		{"no scope for the type", pol, Principal{Scopes: mustScopes(t, "system/Observation.rs")}, "Patient", PermRead, "deny"},
		{"no permission", pol, Principal{Scopes: mustScopes(t, "system/Observation.rs")}, "Observation", PermCreate, "deny"},
		{"patient: compartment type", pol, patient("patient/*.rs"), "Observation", PermSearch, "a"},
		{"patient: the Patient", pol, patient("patient/*.rs"), "Patient", PermRead, "a"},
		{"patient: linked type", pol, patient("patient/*.rs"), "Device", PermRead, "a"},
		{"patient: directory read", pol, patient("patient/*.rs"), "Practitioner", PermRead, "all"},
		{"patient: directory write", pol, patient("patient/*.cruds"), "Practitioner", PermUpdate, "deny"},
		{"patient: Schedule is directory unless it names a patient", pol, patient("patient/*.rs"), "Schedule", PermSearch, "a or none"},
		{"patient: Slot is confined through its Schedule", pol, patient("patient/*.rs"), "Slot", PermSearch, "a or none"},
		{"system: Slot", pol, Principal{Scopes: mustScopes(t, "system/Slot.rs")}, "Slot", PermSearch, "all"},
		{"patient: unconfinable type", pol, patient("patient/*.cruds"), "Bundle", PermRead, "deny"},
		{"patient: Binary", pol, patient("patient/*.cruds"), "Binary", PermRead, "deny"},
		{"patient: unknown future type fails closed", pol, patient("patient/*.cruds"), "NoSuchType", PermRead, "deny"},
		{"patient/ without launch patient", pol, Principal{Scopes: mustScopes(t, "patient/*.rs")}, "Observation", PermRead, "deny"},
		{"granular", pol, patient("patient/Observation.rs?category=laboratory"), "Observation", PermRead, "a?category=laboratory"},
		{"plain beside granular", pol, patient("patient/Observation.rs?category=laboratory patient/Observation.rs"), "Observation", PermRead, "a"},
		{"system beside patient", pol, patient("patient/Observation.rs system/Observation.rs"), "Observation", PermRead, "all"},
		{"user Patient", pol, user("Patient/u", "user/*.rs"), "Observation", PermRead, "u"},
		{"user RelatedPerson: the launch patient", pol, user("RelatedPerson/r", "user/*.rs"), "Observation", PermRead, "a"},
		{"user RelatedPerson without launch", pol, Principal{Scopes: mustScopes(t, "user/*.rs"), FHIRUser: "RelatedPerson/r"}, "Observation", PermRead, "deny"},
		{"user Person: linked patients", pol, user("Person/p", "user/*.rs"), "Observation", PermRead, "where"},
		{"user Practitioner: organization reach", pol, user("Practitioner/d", "user/*.rs"), "Observation", PermRead, "where"},
		{"user PractitionerRole", pol, user("PractitionerRole/r", "user/*.rs"), "Patient", PermSearch, "where"},
		{"confined staff write no directory data", pol, user("Practitioner/d", "user/*.cruds"), "Location", PermUpdate, "deny"},
		{"staff may not write organizations (reach)", pol, user("Practitioner/d", "user/*.cruds"), "Organization", PermDelete, "deny"},
		{"staff reads roles", pol, user("Practitioner/d", "user/*.cruds"), "PractitionerRole", PermRead, "all"},
		{"staff may not write roles (their reach)", pol, user("Practitioner/d", "user/*.cruds"), "PractitionerRole", PermCreate, "deny"},
		{"staff reach all writes roles", all, user("Practitioner/d", "user/*.cruds"), "PractitionerRole", PermCreate, "all"},
		{"system writes roles", pol, Principal{Scopes: mustScopes(t, "system/PractitionerRole.cu")}, "PractitionerRole", PermCreate, "all"},
		{"staff: unconfinable type", pol, user("Practitioner/d", "user/*.rs"), "Bundle", PermRead, "deny"},
		{"staff reach all", all, user("Practitioner/d", "user/*.rs"), "Observation", PermRead, "all"},
		{"staff reach all: Bundle", all, user("Practitioner/d", "user/*.rs"), "Bundle", PermRead, "all"},
		{"unknown user kind", pol, user("Device/x", "user/*.rs"), "Observation", PermRead, "deny"},
		{"user without fhirUser", pol, Principal{Scopes: mustScopes(t, "user/*.rs")}, "Observation", PermRead, "deny"},
		{"service", pol, Principal{Service: "triage", Scopes: mustScopes(t, "system/Communication.cu")}, "Communication", PermCreate, "all"},
	}
	for _, tc := range cases {
		if got := describe(tc.pol.Decide(tc.p, tc.typ, tc.perm)); got != tc.want {
			t.Errorf("%s: %s", tc.name, got)
		}
	}
}

// TestEveryTypeHasAClass lists the classes of every R4 type, so that a change of class is a
// visible change of this test's output, and checks the compartment types' parameters exist.
func TestEveryTypeHasAClass(t *testing.T) {
	counts := map[Class]int{}
	for _, typ := range fhir.ResourceTypes {
		c := ClassOf(typ)
		counts[c]++
		for _, p := range PatientParams(typ) {
			if sp := fhir.LookupSearchParam(typ, p); sp == nil || sp.Type != "reference" {
				t.Errorf("%s: compartment parameter %s is not a reference parameter", typ, p)
			}
		}
	}
	t.Logf("classes: %v", counts)
	if counts[ClassCompartment] < 60 || counts[ClassDirectory] < 40 || counts[ClassDenied] < 10 {
		t.Errorf("unexpected class sizes %v", counts)
	}
}

func TestPatientsOf(t *testing.T) {
	ref := func(param, typ, id string) store.IndexEntry {
		return store.IndexEntry{Param: param, Kind: store.KindReference, RefType: typ, RefID: id}
	}
	for _, tc := range []struct {
		typ   string
		index []store.IndexEntry
		want  string
	}{
		{"Observation", []store.IndexEntry{ref("subject", "Patient", "b"), ref("performer", "Patient", "a")}, "[a b]"},
		{"Observation", []store.IndexEntry{ref("subject", "Group", "g"), ref("performer", "Practitioner", "x")}, "[]"},
		{"Observation", []store.IndexEntry{ref("focus", "Patient", "c"), ref("subject", "Patient", "a")}, "[a]"}, // focus is not a compartment parameter
		{"Patient", []store.IndexEntry{ref("link", "Patient", "b")}, "[self]"},
		{"Device", []store.IndexEntry{ref("patient", "Patient", "d")}, "[d]"},
		{"Bundle", []store.IndexEntry{ref("composition", "Composition", "c")}, "[]"},
	} {
		if got := fmt.Sprint(PatientsOf(tc.typ, "self", tc.index)); got != tc.want && !(got == "[]" && tc.want == "[]") {
			t.Errorf("%s %v: %s, want %s", tc.typ, tc.index, got, tc.want)
		}
	}
}

func TestSenderOK(t *testing.T) {
	sender := func(typ, id string) store.IndexEntry {
		return store.IndexEntry{Param: "sender", Kind: store.KindReference, RefType: typ, RefID: id}
	}
	confined := Alternative{Patients: &PatientSet{IDs: []string{"a"}}, Self: "RelatedPerson/r"}
	for _, tc := range []struct {
		alt   Alternative
		index []store.IndexEntry
		want  bool
	}{
		{confined, []store.IndexEntry{sender("Patient", "a")}, true},
		{confined, []store.IndexEntry{sender("RelatedPerson", "r")}, true},
		{confined, []store.IndexEntry{sender("Practitioner", "x")}, false},
		{confined, nil, false},
		{confined, []store.IndexEntry{sender("Patient", "a"), sender("Practitioner", "x")}, false},
		{Alternative{Patients: &PatientSet{IDs: []string{"a"}}, Staff: true}, []store.IndexEntry{sender("Practitioner", "x")}, true},
		{Alternative{}, []store.IndexEntry{sender("Practitioner", "x")}, true},
	} {
		if got := tc.alt.SenderOK("Communication", tc.index, []string{"a"}); got != tc.want {
			t.Errorf("%+v %v: %v", tc.alt, tc.index, got)
		}
	}
}

func ExamplePolicy_Decide() {
	scopes, _, _ := ParseScopes("patient/Observation.rs patient/Account.rs")
	p := Principal{Scopes: scopes, Patient: "123"}
	pol := New(Options{})
	for _, typ := range []string{"Account", "Observation", "Condition"} {
		d := pol.Decide(p, typ, PermSearch)
		if !d.Allow {
			fmt.Printf("%s: 403 (%v)\n", typ, d.Err())
			continue
		}
		for _, c := range d.Clauses() {
			if c.AnyOf != nil {
				fmt.Printf("%s: any of %d ways into the compartment\n", typ, len(c.AnyOf))
			} else {
				fmt.Printf("%s: %s=%s/%s\n", typ, c.Param, c.Values[0].RefType, c.Values[0].RefID)
			}
		}
	}
	// Output:
	// Account: subject=Patient/123
	// Observation: any of 2 ways into the compartment
	// Condition: 403 (policy: denied: no granted scope allows search on Condition)
}
