package main

import "testing"

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{
		"birthDate":         "BirthDate",
		"id":                "ID",
		"valueUri":          "ValueURI",
		"valueBase64Binary": "ValueBase64Binary",
		"identifier":        "Identifier",
		"implicitRules":     "ImplicitRules",
	} {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCodeName(t *testing.T) {
	for _, tc := range []struct{ code, display, want string }{
		{"entered-in-error", "", "EnteredInError"},
		{"4.0.1", "", "4_0_1"},
		{"0.01", "", "0_01"},
		{"<=", "Less or Equal to", "LessOrEqualTo"},
		{"GPL-2.0+", "", "GPL2_0Plus"},
		{"inProgress", "", "InProgress"},
	} {
		if got := codeName(tc.code, tc.display); got != tc.want {
			t.Errorf("codeName(%q) = %q, want %q", tc.code, got, tc.want)
		}
	}
}
