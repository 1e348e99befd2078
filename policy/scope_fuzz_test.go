package policy

import "testing"

// FuzzParseScope checks that parsing never panics and that what parses writes back to a form
// that parses to the same scope.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{
		"patient/Observation.read", "user/*.*", "system/Patient.write", "patient/Observation.rs",
		"user/*.cruds", "patient/Observation.rs?category=" + labCat + "|laboratory",
		"patient/Observation.rs?code=http%3A%2F%2Floinc.org%7C1234-5&status=final",
		"openid", "launch/patient", "offline_access", "patient/Observation.sr", "patient/.rs",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1024 {
			t.Skip()
		}
		sc, err := ParseScope(s)
		if err != nil {
			return
		}
		again, err := ParseScope(sc.String())
		if err != nil {
			t.Fatalf("%q parsed, but its String %q does not: %v", s, sc.String(), err)
		}
		if again.String() != sc.String() {
			t.Fatalf("%q: String not stable: %q then %q", s, sc.String(), again.String())
		}
		_ = New(Options{}).Decide(Principal{Scopes: Scopes{sc}, Patient: "p1", FHIRUser: "Patient/p1"}, "Observation", PermSearch).Clauses()
	})
}
