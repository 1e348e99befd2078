package policy

import (
	"errors"
	"reflect"
	"testing"

	"github.com/portico-health/portico/store"
)

func ref(param, typ, id string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindReference, RefType: typ, RefID: id}
}

func tok(param, system, code string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindToken, System: system, Code: code}
}

// Resources the table refers to.
var (
	obsP1Lab   = &Resource{ID: "o1", Index: []store.IndexEntry{ref("subject", "Patient", "p1"), tok("category", labCat, "laboratory")}}
	obsP1Vit   = &Resource{ID: "o2", Index: []store.IndexEntry{ref("subject", "Patient", "p1"), tok("category", labCat, "vital-signs")}}
	obsP2Lab   = &Resource{ID: "o3", Index: []store.IndexEntry{ref("subject", "Patient", "p2"), tok("category", labCat, "laboratory")}}
	obsPerfP1  = &Resource{ID: "o4", Index: []store.IndexEntry{ref("subject", "Patient", "p2"), ref("performer", "Patient", "p1")}}
	patP1      = &Resource{ID: "p1"}
	patP2      = &Resource{ID: "p2", Index: []store.IndexEntry{ref("link", "Patient", "p1")}}
	commFromP1 = &Resource{ID: "c1", Index: []store.IndexEntry{ref("sender", "Patient", "p1"), ref("recipient", "Practitioner", "d1")}}
	commFromDr = &Resource{ID: "c2", Index: []store.IndexEntry{ref("sender", "Practitioner", "d1"), ref("recipient", "Patient", "p1")}}
	commNoSend = &Resource{ID: "c3", Index: []store.IndexEntry{ref("subject", "Patient", "p1")}}
	commToP2   = &Resource{ID: "c4", Index: []store.IndexEntry{ref("sender", "Patient", "p1"), ref("recipient", "Patient", "p2")}}
	medication = &Resource{ID: "m1"}
)

func TestAuthorize(t *testing.T) {
	patient := func(scopes string) Principal {
		return Principal{Scopes: mustScopes(t, scopes), Patient: "p1", ClientID: "app"}
	}
	tests := []struct {
		name  string
		p     Principal
		r     Request
		allow bool
		// filtered: the decision carries a Filter (only checked when allowed)
		filtered bool
	}{
		// v1 and v2 read/search
		{"v1 read allows read", patient("patient/Observation.read"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Lab}, true, true},
		{"v1 read allows search", patient("patient/Observation.read"), Request{Interaction: InteractionSearch, Type: "Observation"}, true, true},
		{"v2 r allows vread", patient("patient/Observation.r"), Request{Interaction: InteractionVRead, Type: "Observation", Resource: obsP1Lab}, true, true},
		{"v2 r refuses search", patient("patient/Observation.r"), Request{Interaction: InteractionSearch, Type: "Observation"}, false, false},
		{"v2 s refuses read", patient("patient/Observation.s"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Lab}, false, false},
		{"other type refused", patient("patient/Observation.rs"), Request{Interaction: InteractionSearch, Type: "Condition"}, false, false},
		{"wildcard type", patient("patient/*.rs"), Request{Interaction: InteractionSearch, Type: "Condition"}, true, true},
		{"instance history needs r", patient("patient/Observation.r"), Request{Interaction: InteractionHistory, Type: "Observation", ID: "o1", Resource: obsP1Lab}, true, true},
		{"type history needs s", patient("patient/Observation.r"), Request{Interaction: InteractionHistory, Type: "Observation"}, false, false},

		// compartment
		{"other patient's read refused", patient("patient/Observation.rs"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP2Lab}, false, false},
		{"performer puts it in the compartment", patient("patient/Observation.rs"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsPerfP1}, true, true},
		{"own Patient", patient("patient/Patient.r"), Request{Interaction: InteractionRead, Type: "Patient", Resource: patP1}, true, true},
		{"linked Patient refused", patient("patient/Patient.r"), Request{Interaction: InteractionRead, Type: "Patient", Resource: patP2}, false, false},
		{"non-compartment type unrestricted", patient("patient/Medication.rs"), Request{Interaction: InteractionRead, Type: "Medication", Resource: medication}, true, false},
		{"patient scope without launch patient", Principal{Scopes: mustScopes(t, "patient/*.rs")}, Request{Interaction: InteractionSearch, Type: "Observation"}, false, false},

		// granular
		{"granular match", patient("patient/Observation.rs?category=" + labCat + "|laboratory"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Lab}, true, true},
		{"granular mismatch is 403", patient("patient/Observation.rs?category=" + labCat + "|laboratory"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Vit}, false, false},
		{"granular code only", patient("patient/Observation.rs?category=vital-signs"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Vit}, true, true},
		{"granular wrong system", patient("patient/Observation.rs?category=http://other|laboratory"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Lab}, false, false},
		{"two granular scopes OR", patient("patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Vit}, true, true},
		{"plain scope beside granular widens", patient("patient/Observation.rs?category=laboratory patient/Observation.rs"), Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Vit}, true, true},
		{"granular search is filtered", patient("patient/Observation.rs?category=laboratory"), Request{Interaction: InteractionSearch, Type: "Observation"}, true, true},

		// user and system
		{"practitioner user unrestricted", Principal{Scopes: mustScopes(t, "user/*.*"), FHIRUser: "Practitioner/d1"}, Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP2Lab}, true, false},
		{"patient user confined", Principal{Scopes: mustScopes(t, "user/*.rs"), FHIRUser: "Patient/p1"}, Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP2Lab}, false, false},
		{"patient user own data", Principal{Scopes: mustScopes(t, "user/*.rs"), FHIRUser: "Patient/p1"}, Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Lab}, true, true},
		{"related person uses launch patient", Principal{Scopes: mustScopes(t, "user/*.rs"), FHIRUser: "RelatedPerson/r1", Patient: "p1"}, Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Lab}, true, true},
		{"related person without patient", Principal{Scopes: mustScopes(t, "user/*.rs"), FHIRUser: "RelatedPerson/r1"}, Request{Interaction: InteractionSearch, Type: "Observation"}, false, false},
		{"user scope without user", Principal{Scopes: mustScopes(t, "user/*.rs")}, Request{Interaction: InteractionSearch, Type: "Observation"}, false, false},
		{"system unrestricted", Principal{Scopes: mustScopes(t, "system/*.rs")}, Request{Interaction: InteractionSearch, Type: "Observation"}, true, false},
		{"system granular", Principal{Scopes: mustScopes(t, "system/Observation.rs?category=laboratory")}, Request{Interaction: InteractionRead, Type: "Observation", Resource: obsP1Vit}, false, false},
		{"system-level search with wildcard", Principal{Scopes: mustScopes(t, "system/*.s")}, Request{Interaction: InteractionSearch}, true, false},
		{"system-level search needs wildcard", Principal{Scopes: mustScopes(t, "system/Observation.s")}, Request{Interaction: InteractionSearch}, false, false},

		// writes
		{"v1 read cannot write", patient("patient/Observation.read"), Request{Interaction: InteractionCreate, Type: "Observation", Resource: obsP1Lab}, false, false},
		{"v1 write creates", patient("patient/Observation.write"), Request{Interaction: InteractionCreate, Type: "Observation", Resource: obsP1Lab}, true, true},
		{"v1 write deletes", patient("patient/Observation.write"), Request{Interaction: InteractionDelete, Type: "Observation", Resource: obsP1Lab}, true, true},
		{"v2 c cannot update", patient("patient/Observation.c"), Request{Interaction: InteractionUpdate, Type: "Observation", Resource: obsP1Lab}, false, false},
		{"v2 u patches", patient("patient/Observation.u"), Request{Interaction: InteractionPatch, Type: "Observation", Resource: obsP1Lab}, true, true},
		{"create for another patient refused", patient("patient/Observation.c"), Request{Interaction: InteractionCreate, Type: "Observation", Resource: obsP2Lab}, false, false},
		{"granular create outside category refused", patient("patient/Observation.c?category=vital-signs"), Request{Interaction: InteractionCreate, Type: "Observation", Resource: obsP1Lab}, false, false},
		{"patient sends as itself", patient("patient/Communication.c"), Request{Interaction: InteractionCreate, Type: "Communication", Resource: commFromP1}, true, true},
		{"patient cannot send as doctor", patient("patient/Communication.c"), Request{Interaction: InteractionCreate, Type: "Communication", Resource: commFromDr}, false, false},
		{"patient must name a sender", patient("patient/Communication.c"), Request{Interaction: InteractionCreate, Type: "Communication", Resource: commNoSend}, false, false},
		{"patient may message another patient as itself", patient("patient/Communication.c"), Request{Interaction: InteractionCreate, Type: "Communication", Resource: commToP2}, true, true},
		{"doctor reads message", Principal{Scopes: mustScopes(t, "user/Communication.rs"), FHIRUser: "Practitioner/d1"}, Request{Interaction: InteractionRead, Type: "Communication", Resource: commFromDr}, true, false},
		{"practitioner writes any sender", Principal{Scopes: mustScopes(t, "user/Communication.c"), FHIRUser: "Practitioner/d1"}, Request{Interaction: InteractionCreate, Type: "Communication", Resource: commFromDr}, true, false},

		// non-resource scopes grant nothing
		{"openid alone", patient("openid fhirUser launch/patient offline_access"), Request{Interaction: InteractionRead, Type: "Patient", Resource: patP1}, false, false},
		{"no scopes", Principal{}, Request{Interaction: InteractionRead, Type: "Patient", Resource: patP1}, false, false},
		{"unknown interaction fails closed", patient("patient/*.rs"), Request{Interaction: 99, Type: "Patient"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Authorize(tt.p, tt.r)
			if d.Allow != tt.allow {
				t.Fatalf("Allow = %v (%s), want %v", d.Allow, d.Reason, tt.allow)
			}
			if !d.Allow && d.Reason == "" {
				t.Error("a denial must say why")
			}
			if d.Allow && (d.Filter != nil) != tt.filtered {
				t.Errorf("Filter = %+v, want filtered %v", d.Filter, tt.filtered)
			}
		})
	}
}

func TestFilterClauses(t *testing.T) {
	p := Principal{Scopes: mustScopes(t, "patient/*.rs"), Patient: "p1"}
	tests := []struct {
		typ    string
		scopes string
		want   []store.Clause
		ok     bool
	}{
		{"Patient", "patient/*.rs", []store.Clause{{Param: "_id", Kind: store.KindToken, Values: []store.Value{{Code: "p1", AnySystem: true}}}}, true},
		{"Account", "patient/*.rs", []store.Clause{{Param: "subject", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: "p1"}}}}, true},
		{"Observation", "patient/*.rs", []store.Clause{{AnyOf: [][]store.Clause{ // subject OR performer
			{{Param: "subject", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: "p1"}}}},
			{{Param: "performer", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: "p1"}}}},
		}}}, true},
		{"Observation", "patient/Observation.rs?category=laboratory", []store.Clause{
			{AnyOf: [][]store.Clause{
				{{Param: "subject", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: "p1"}}}},
				{{Param: "performer", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: "p1"}}}},
			}},
			{Param: "category", Kind: store.KindToken, Values: []store.Value{{Code: "laboratory", AnySystem: true}}},
		}, true},
		{"Account", "patient/Account.rs?type=http://s|x", []store.Clause{
			{Param: "subject", Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: "p1"}}},
			{Param: "type", Kind: store.KindToken, Values: []store.Value{{System: "http://s", Code: "x"}}},
		}, true},
		{"Observation", "system/Observation.rs?category=laboratory", []store.Clause{
			{Param: "category", Kind: store.KindToken, Values: []store.Value{{Code: "laboratory", AnySystem: true}}},
		}, true},
		{"Observation", "system/Observation.rs?category=laboratory system/Observation.rs?category=vital-signs", []store.Clause{{AnyOf: [][]store.Clause{
			{{Param: "category", Kind: store.KindToken, Values: []store.Value{{Code: "laboratory", AnySystem: true}}}},
			{{Param: "category", Kind: store.KindToken, Values: []store.Value{{Code: "vital-signs", AnySystem: true}}}},
		}}}, true},
		{"", "patient/*.rs", nil, false}, // system-level search: each result by its own type
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.scopes, func(t *testing.T) {
			p.Scopes = mustScopes(t, tt.scopes)
			d := Authorize(p, Request{Interaction: InteractionSearch, Type: tt.typ})
			if !d.Allow {
				t.Fatal(d.Reason)
			}
			got, ok := d.Filter.Clauses(tt.typ)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Clauses = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCompartmentRefs(t *testing.T) {
	got := CompartmentRefs("Communication", "p1")
	want := []CompartmentRef{{"subject", "Patient/p1"}, {"sender", "Patient/p1"}, {"recipient", "Patient/p1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Communication: %v", got)
	}
	if got := CompartmentRefs("Medication", "p1"); len(got) != 0 {
		t.Errorf("Medication: %v", got)
	}
	if !InPatientCompartment("Observation") || InPatientCompartment("Organization") || !InPatientCompartment("Patient") {
		t.Error("InPatientCompartment")
	}
}

func TestDecisionErr(t *testing.T) {
	if err := (Decision{Allow: true}).Err(); err != nil {
		t.Error(err)
	}
	err := Authorize(Principal{}, Request{Interaction: InteractionRead, Type: "Patient"}).Err()
	var e *DeniedError
	if !errors.As(err, &e) || e.Reason == "" {
		t.Errorf("err = %#v", err)
	}
}
