package fhir

import (
	"testing"

	"github.com/portico-health/portico/store"
)

// FuzzParseSearchValue: no value makes the parser panic, and date, number and quantity values
// it accepts have a non-empty range.
func FuzzParseSearchValue(f *testing.F) {
	for _, s := range []string{"2020", "ge2020-01-02T10:00:00.123+02:00", "lt1e2", "5.4|http://unitsofmeasure.org|mg",
		"5.4||mg", `a\|b|c`, "Patient/1/_history/2", "http://x/Patient/1", "sa2020-02-29T10:00Z", "-0.5e-3"} {
		for k := store.KindToken; k <= store.KindSpecial; k++ {
			f.Add(uint8(k), uint8(0), s)
		}
	}
	f.Fuzz(func(t *testing.T, kind, mod uint8, raw string) {
		k := store.ParamKind(kind%9 + 1)
		v, err := ParseSearchValue(k, store.Modifier(mod%10), raw)
		if err != nil || store.Modifier(mod%10) == store.ModMissing {
			return
		}
		if (k == store.KindDate || k == store.KindNumber || k == store.KindQuantity) && !(v.Low < v.High) {
			t.Errorf("%d %q: range [%v, %v)", k, raw, v.Low, v.High)
		}
	})
}

// FuzzCompilePath: no expression makes the compiler panic, and what compiles evaluates
// without panicking on a real resource.
func FuzzCompilePath(f *testing.F) {
	for i := range searchParamTable {
		if i%20 == 0 && searchParamTable[i].Expression != "" {
			f.Add(searchParamTable[i].Expression)
		}
	}
	f.Add("Observation.component.where(code.coding.code = '8480-6').value.as(Quantity).value")
	data := `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/1"},
		"component":[{"code":{"coding":[{"code":"8480-6"}]},"valueQuantity":{"value":1}}]}`
	root, err := ParseJSON([]byte(data))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 1000 {
			return
		}
		for _, base := range []string{"Observation", ""} {
			e, err := CompilePath(base, expr)
			if err != nil {
				continue
			}
			e.Eval(&root, &root, "Observation")
		}
	})
}
