package policy

import (
	"errors"
	"reflect"
	"testing"
)

const labCat = "http://terminology.hl7.org/CodeSystem/observation-category"

func TestParseScope(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Scope
		str  string // canonical form; "" means the input itself
	}{
		{"v1 read", "patient/Observation.read", Scope{Kind: KindResource, Context: ContextPatient, Type: "Observation", Perms: PermRead | PermSearch, V1: true}, ""},
		{"v1 write", "user/Patient.write", Scope{Kind: KindResource, Context: ContextUser, Type: "Patient", Perms: PermCreate | PermUpdate | PermDelete, V1: true}, ""},
		{"v1 wildcard", "user/*.*", Scope{Kind: KindResource, Context: ContextUser, Type: "*", Perms: PermAll, V1: true}, ""},
		{"v2 rs", "patient/Observation.rs", Scope{Kind: KindResource, Context: ContextPatient, Type: "Observation", Perms: PermRead | PermSearch}, ""},
		{"v2 cruds", "system/*.cruds", Scope{Kind: KindResource, Context: ContextSystem, Type: "*", Perms: PermAll}, ""},
		{"v2 single", "system/Patient.d", Scope{Kind: KindResource, Context: ContextSystem, Type: "Patient", Perms: PermDelete}, ""},
		{"v2 cu", "patient/Communication.cu", Scope{Kind: KindResource, Context: ContextPatient, Type: "Communication", Perms: PermCreate | PermUpdate}, ""},
		{"granular system|code", "patient/Observation.rs?category=" + labCat + "|laboratory",
			Scope{Kind: KindResource, Context: ContextPatient, Type: "Observation", Perms: PermRead | PermSearch,
				Params: []Param{{Name: "category", System: labCat, Code: "laboratory", HasSystem: true}}}, ""},
		{"granular code only", "user/Condition.rs?category=problem-list-item",
			Scope{Kind: KindResource, Context: ContextUser, Type: "Condition", Perms: PermRead | PermSearch,
				Params: []Param{{Name: "category", Code: "problem-list-item"}}}, ""},
		{"granular escaped", "patient/Observation.rs?code=http%3A%2F%2Floinc.org%7C1234-5",
			Scope{Kind: KindResource, Context: ContextPatient, Type: "Observation", Perms: PermRead | PermSearch,
				Params: []Param{{Name: "code", System: "http://loinc.org", Code: "1234-5", HasSystem: true}}},
			"patient/Observation.rs?code=http://loinc.org|1234-5"},
		{"granular two params", "patient/Observation.rs?category=vital-signs&status=final",
			Scope{Kind: KindResource, Context: ContextPatient, Type: "Observation", Perms: PermRead | PermSearch,
				Params: []Param{{Name: "category", Code: "vital-signs"}, {Name: "status", Code: "final"}}}, ""},
		{"openid", "openid", Scope{Kind: KindOpenID}, ""},
		{"fhirUser", "fhirUser", Scope{Kind: KindFHIRUser}, ""},
		{"profile", "profile", Scope{Kind: KindProfile}, ""},
		{"launch", "launch", Scope{Kind: KindLaunch}, ""},
		{"launch/patient", "launch/patient", Scope{Kind: KindLaunchPatient}, ""},
		{"launch/encounter", "launch/encounter", Scope{Kind: KindLaunchEncounter}, ""},
		{"offline", "offline_access", Scope{Kind: KindOfflineAccess}, ""},
		{"online", "online_access", Scope{Kind: KindOnlineAccess}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScope(tt.in)
			if err != nil {
				t.Fatalf("ParseScope(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseScope(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			want := tt.str
			if want == "" {
				want = tt.in
			}
			if s := got.String(); s != want {
				t.Errorf("String() = %q, want %q", s, want)
			}
		})
	}
}

func TestParseScopeErrors(t *testing.T) {
	for _, in := range []string{
		"", "patient", "patient/", "patient/Observation", "patient/Observation.", "patient/Observation.sr",
		"patient/Observation.rr", "patient/Observation.x", "patient/Observation.rsc", "patient/observation.rs",
		"clinic/Observation.rs", "patient/Obs-ervation.rs", "patient/Observation.read?category=x",
		"patient/Observation.rs?", "patient/Observation.rs?category", "patient/Observation.rs?category=",
		"patient/Observation.rs?category=sys|", "patient/Observation.rs?=x", "patient/Observation.rs?cat egory=x",
		"patient/Observation.rs?category=%zz", "email", "LAUNCH",
	} {
		t.Run(in, func(t *testing.T) {
			if s, err := ParseScope(in); !errors.Is(err, ErrScope) {
				t.Errorf("ParseScope(%q) = %+v, %v; want ErrScope", in, s, err)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	known, unknown, err := ParseScopes("openid  fhirUser email patient/Observation.rs\tlaunch/patient")
	if err != nil {
		t.Fatal(err)
	}
	if got := known.String(); got != "openid fhirUser patient/Observation.rs launch/patient" {
		t.Errorf("known = %q", got)
	}
	if !reflect.DeepEqual(unknown, []string{"email"}) {
		t.Errorf("unknown = %q", unknown)
	}
	if !known.Has(KindLaunchPatient) || known.Has(KindLaunch) {
		t.Error("Has")
	}
	if _, _, err := ParseScopes("openid patient/Observation.sr"); !errors.Is(err, ErrScope) {
		t.Errorf("malformed SMART scope: err = %v", err)
	}
}

func mustScopes(t testing.TB, s string) Scopes {
	t.Helper()
	ss, unknown, err := ParseScopes(s)
	if err != nil || len(unknown) > 0 {
		t.Fatalf("ParseScopes(%q): %v %q", s, err, unknown)
	}
	return ss
}

func TestGrant(t *testing.T) {
	tests := []struct {
		name, requested, allowed, want string
	}{
		{"exact", "system/Observation.rs", "system/Observation.rs", "system/Observation.rs"},
		{"covered by wildcard", "system/Observation.rs system/Patient.r", "system/*.rs", "system/Observation.rs system/Patient.r"},
		{"v1 read covered by v2 rs", "system/Observation.read", "system/*.rs", "system/Observation.read"},
		{"narrowed type", "system/*.rs", "system/Observation.rs system/Patient.rs", "system/Observation.rs system/Patient.rs"},
		{"narrowed perms", "system/Observation.cruds", "system/Observation.rs", "system/Observation.rs"},
		{"v1 narrowed to v1", "system/*.*", "system/Observation.read", "system/Observation.read"},
		{"granular request under plain", "patient/Observation.rs?category=laboratory", "patient/Observation.rs", "patient/Observation.rs?category=laboratory"},
		{"plain request under granular", "patient/Observation.rs", "patient/Observation.rs?category=laboratory", "patient/Observation.rs?category=laboratory"},
		{"context mismatch", "user/Observation.rs", "system/*.*", ""},
		{"type mismatch", "system/Patient.rs", "system/Observation.rs", ""},
		{"perm mismatch", "system/Observation.c", "system/Observation.rs", ""},
		{"non-resource", "openid fhirUser launch/patient", "openid launch/patient", "openid launch/patient"},
		{"duplicates dropped", "system/Observation.rs system/Observation.r", "system/*.rs", "system/Observation.rs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Grant(mustScopes(t, tt.requested), mustScopes(t, tt.allowed)).String()
			if got != tt.want {
				t.Errorf("Grant(%q, %q) = %q, want %q", tt.requested, tt.allowed, got, tt.want)
			}
		})
	}
}
