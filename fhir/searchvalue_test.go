package fhir

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/store"
)

func ms(s string) float64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return float64(t.UnixMilli())
}

func TestNormalizeString(t *testing.T) {
	for in, want := range map[string]string{
		"Álvarez":       "alvarez",
		"MÜLLER":        "muller",
		"smith":         "smith",
		"Smith Jones":   "smith jones",
		"Straße":        "strasse",
		"Ærø":           "aero",
		"Łódź":          "lodz",
		"Nguyễn Thị":    "nguyen thi",
		"François-Noël": "francois-noel",
		"":              "",
	} {
		if got := NormalizeString(in); got != want {
			t.Errorf("NormalizeString(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDateRange(t *testing.T) {
	for _, tt := range []struct{ in, lo, hi string }{
		{"2020", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"},
		{"2020-02", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"},
		{"2020-12", "2020-12-01T00:00:00Z", "2021-01-01T00:00:00Z"},
		{"2020-02-29", "2020-02-29T00:00:00Z", "2020-03-01T00:00:00Z"},
		{"2020-02-29T10:00", "2020-02-29T10:00:00Z", "2020-02-29T10:01:00Z"},
		{"2020-02-29T10:00Z", "2020-02-29T10:00:00Z", "2020-02-29T10:01:00Z"},
		{"2020-02-29T10:00:05", "2020-02-29T10:00:05Z", "2020-02-29T10:00:06Z"},
		{"2020-02-29T10:00:05Z", "2020-02-29T10:00:05Z", "2020-02-29T10:00:06Z"},
		{"2020-02-29T10:00:05+02:00", "2020-02-29T08:00:05Z", "2020-02-29T08:00:06Z"},
		{"2020-02-29T10:00:05-05:30", "2020-02-29T15:30:05Z", "2020-02-29T15:30:06Z"},
		{"2020-02-29T10:00:05.1Z", "2020-02-29T10:00:05.1Z", "2020-02-29T10:00:05.2Z"},
		{"2020-02-29T10:00:05.250Z", "2020-02-29T10:00:05.25Z", "2020-02-29T10:00:05.251Z"},
	} {
		lo, hi, err := DateRange(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if lo != ms(tt.lo) || hi != ms(tt.hi) {
			t.Errorf("%s: [%v, %v), want [%v, %v)", tt.in, lo, hi, ms(tt.lo), ms(tt.hi))
		}
	}
	for _, bad := range []string{"20", "2020-13", "2020-02-30", "2020-1-01", "2020-01-01T25:00", "2020-01-01T10", "2020-01-01T10:00:00+2", "2020-01-01Z", "2020-01-01T10:00:00.Z", "abcd"} {
		if _, _, err := DateRange(bad); err == nil {
			t.Errorf("DateRange(%q): no error", bad)
		}
	}
}

func TestNumberRange(t *testing.T) {
	for _, tt := range []struct {
		in        string
		v, lo, hi float64
	}{
		{"100", 100, 99.5, 100.5},
		{"1.50", 1.5, 1.495, 1.505},
		{"0.001", 0.001, 0.0005, 0.0015},
		{"-2.5", -2.5, -2.55, -2.45},
		{"1e2", 100, 50, 150},
		{"1.5e2", 150, 145, 155},
		{"2.50E-1", 0.25, 0.2495, 0.2505},
		{"126.76", 126.76, 126.755, 126.765},
	} {
		v, lo, hi, err := NumberRange(tt.in)
		if err != nil || v != tt.v || lo != tt.lo || hi != tt.hi {
			t.Errorf("NumberRange(%q) = %v [%v, %v) %v, want %v [%v, %v)", tt.in, v, lo, hi, err, tt.v, tt.lo, tt.hi)
		}
	}
	for _, bad := range []string{"", "abc", "1.", ".5", "1..2", "1e", "1e2.5", "--1", "1,5"} {
		if _, _, _, err := NumberRange(bad); err == nil {
			t.Errorf("NumberRange(%q): no error", bad)
		}
	}
}

func TestParseSearchValue(t *testing.T) {
	d := func(s string) (float64, float64) { lo, hi, _ := DateRange(s); return lo, hi }
	lo2020, hi2020 := d("2020")
	loDay, hiDay := d("2020-01-02T10:00:00+01:00")
	tests := []struct {
		kind store.ParamKind
		mod  store.Modifier
		raw  string
		want store.Value
	}{
		{store.KindToken, 0, "female", store.Value{Code: "female", AnySystem: true}},
		{store.KindToken, 0, "http://loinc.org|2160-0", store.Value{System: "http://loinc.org", Code: "2160-0"}},
		{store.KindToken, 0, "|2160-0", store.Value{Code: "2160-0"}},
		{store.KindToken, 0, "http://loinc.org|", store.Value{System: "http://loinc.org", AnyCode: true}},
		{store.KindToken, 0, `a\|b|c\,d\$e\\f`, store.Value{System: "a|b", Code: `c,d$e\f`}},
		{store.KindToken, store.ModNot, "final", store.Value{Code: "final", AnySystem: true}},
		{store.KindToken, store.ModText, "Créatinine", store.Value{Text: "creatinine"}},
		{store.KindToken, store.ModOfType, "http://terminology.hl7.org/CodeSystem/v2-0203|MR|00482913", store.Value{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: "00482913"}},
		{store.KindToken, store.ModMissing, "true", store.Value{Text: "true"}},
		{store.KindString, 0, "Álvarez", store.Value{Text: "alvarez"}},
		{store.KindString, store.ModContains, "VAR", store.Value{Text: "var"}},
		{store.KindString, store.ModExact, "Álvarez", store.Value{Text: "Álvarez"}},
		{store.KindString, 0, `a\,b`, store.Value{Text: "a,b"}},
		{store.KindURI, store.ModBelow, "http://acme.org/fhir/", store.Value{Text: "http://acme.org/fhir/"}},
		{store.KindReference, 0, "Patient/123", store.Value{RefType: "Patient", RefID: "123"}},
		{store.KindReference, 0, "Patient/123/_history/2", store.Value{RefType: "Patient", RefID: "123"}},
		{store.KindReference, 0, "123", store.Value{RefID: "123"}},
		{store.KindReference, 0, "https://other.org/fhir/Patient/9", store.Value{RefURL: "https://other.org/fhir/Patient/9"}},
		{store.KindReference, 0, "http://hl7.org/fhir/Questionnaire/q|2.0", store.Value{RefURL: "http://hl7.org/fhir/Questionnaire/q"}},
		{store.KindReference, store.ModIdentifier, "http://ns|42", store.Value{System: "http://ns", Code: "42"}},
		{store.KindDate, 0, "2020", store.Value{Low: lo2020, High: hi2020}},
		{store.KindDate, 0, "eq2020", store.Value{Low: lo2020, High: hi2020}},
		{store.KindDate, 0, "ge2020", store.Value{Prefix: store.PrefixGe, Low: lo2020, High: hi2020}},
		{store.KindDate, 0, "ne2020-01-02T10:00:00+01:00", store.Value{Prefix: store.PrefixNe, Low: loDay, High: hiDay}},
		{store.KindDate, 0, "sa2020", store.Value{Prefix: store.PrefixSa, Low: lo2020, High: hi2020}},
		{store.KindDate, 0, "eb2020", store.Value{Prefix: store.PrefixEb, Low: lo2020, High: hi2020}},
		{store.KindDate, 0, "ap2020", store.Value{Prefix: store.PrefixAp, Low: lo2020, High: hi2020}},
		{store.KindDate, 0, "gt2020", store.Value{Prefix: store.PrefixGt, Low: lo2020, High: hi2020}},
		{store.KindDate, 0, "lt2020", store.Value{Prefix: store.PrefixLt, Low: lo2020, High: hi2020}},
		{store.KindDate, 0, "le2020", store.Value{Prefix: store.PrefixLe, Low: lo2020, High: hi2020}},
		{store.KindNumber, 0, "100", store.Value{Low: 99.5, High: 100.5}},
		{store.KindNumber, 0, "gt1e2", store.Value{Prefix: store.PrefixGt, Low: 50, High: 150}},
		{store.KindNumber, 0, "le-1.50", store.Value{Prefix: store.PrefixLe, Low: -1.505, High: -1.495}},
		{store.KindQuantity, 0, "5.4", store.Value{Low: 5.35, High: 5.45, AnySystem: true, AnyCode: true}},
		{store.KindQuantity, 0, "lt5.4|http://unitsofmeasure.org|mg", store.Value{Prefix: store.PrefixLt, Low: 5.35, High: 5.45, System: "http://unitsofmeasure.org", Code: "mg"}},
		{store.KindQuantity, 0, "5.4||mg", store.Value{Low: 5.35, High: 5.45, AnySystem: true, Code: "mg"}},
		{store.KindQuantity, 0, `5.4||m\|s`, store.Value{Low: 5.35, High: 5.45, AnySystem: true, Code: "m|s"}},
	}
	for _, tt := range tests {
		got, err := ParseSearchValue(tt.kind, tt.mod, tt.raw)
		if err != nil {
			t.Errorf("%d %q: %v", tt.kind, tt.raw, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%d %q:\n got %+v\nwant %+v", tt.kind, tt.raw, got, tt.want)
		}
	}
	for _, bad := range []struct {
		kind store.ParamKind
		mod  store.Modifier
		raw  string
		want string
	}{
		{store.KindToken, 0, "", "empty"},
		{store.KindToken, 0, "|", "neither system nor code"},
		{store.KindToken, 0, "a|b|c", "more than one"},
		{store.KindToken, store.ModOfType, "a|b", "system|code|value"},
		{store.KindToken, store.ModMissing, "yes", "true or false"},
		{store.KindDate, 0, "2020-13", "invalid date"},
		{store.KindDate, 0, "xx2020", "invalid date"},
		{store.KindNumber, 0, "ten", "invalid number"},
		{store.KindQuantity, 0, "5|mg", "invalid quantity"},
		{store.KindQuantity, 0, "5|http://unitsofmeasure.org|", "needs a code"},
		{store.KindReference, 0, "a/b/c", "invalid reference"},
		{store.KindComposite, 0, "a$b", "ParseCompositeValue"},
		{store.KindSpecial, 0, "x", "cannot be searched"},
	} {
		_, err := ParseSearchValue(bad.kind, bad.mod, bad.raw)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%d %q: error %v, want %q", bad.kind, bad.raw, err, bad.want)
		}
	}
}

func TestParseCompositeValue(t *testing.T) {
	sp := LookupSearchParam("Observation", "code-value-quantity")
	v, err := ParseCompositeValue(sp, `http://loinc.org|2160-0$gt1.2|http://unitsofmeasure.org|mg/dL`)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Value{Components: []store.Value{
		{System: "http://loinc.org", Code: "2160-0"},
		{Prefix: store.PrefixGt, Low: 1.15, High: 1.25, System: "http://unitsofmeasure.org", Code: "mg/dL"},
	}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %+v\nwant %+v", v, want)
	}
	if _, err := ParseCompositeValue(sp, "a"); err == nil {
		t.Error("one part accepted")
	}
	if _, err := ParseCompositeValue(LookupSearchParam("Observation", "code"), "a$b"); err == nil {
		t.Error("non-composite accepted")
	}
	v, err = ParseCompositeValue(LookupSearchParam("Observation", "code-value-date"), `8480-6$ge2024-05`)
	if err != nil || v.Components[1].Prefix != store.PrefixGe {
		t.Errorf("code-value-date: %+v %v", v, err)
	}
}

// TestPrefixAgreement: a parsed search value, an extracted entry and store.Prefix.Matches
// agree with hand-computed expectations, for each prefix.
func TestPrefixAgreement(t *testing.T) {
	patient := func(birth string) *Resource {
		return mustResource(t, `{"resourceType":"Patient","birthDate":"`+birth+`"}`)
	}
	obs := func(value string) *Resource {
		return mustResource(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"},
			"effectiveDateTime":"2019-12-31T23:59:59Z","valueQuantity":{"value":`+value+`,"system":"http://unitsofmeasure.org","code":"mg"}}`)
	}
	entry := func(r *Resource, param string) store.IndexEntry {
		es, err := ExtractIndex(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Param == param {
				return e
			}
		}
		t.Fatalf("no %s entry", param)
		return store.IndexEntry{}
	}
	tests := []struct {
		r     *Resource
		param string
		kind  store.ParamKind
		value string
		want  bool
	}{
		{patient("1974-12-25"), "birthdate", store.KindDate, "1974", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "1974-12", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "1974-12-25", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "1974-12-26", false},
		{patient("1974"), "birthdate", store.KindDate, "1974-12-25", false}, // the year is wider than the day
		{patient("1974"), "birthdate", store.KindDate, "ap1974-12-25", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "ne1974", false},
		{patient("1974-12-25"), "birthdate", store.KindDate, "ne1975", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "gt1974-12-24", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "gt1974-12-25", false},
		{patient("1974-12-25"), "birthdate", store.KindDate, "ge1974-12-25", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "lt1974-12-26", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "lt1974-12-25", false},
		{patient("1974-12-25"), "birthdate", store.KindDate, "le1974-12-25", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "sa1974-12-24", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "sa1974-12-25", false},
		{patient("1974-12-25"), "birthdate", store.KindDate, "eb1975", true},
		{patient("1974-12-25"), "birthdate", store.KindDate, "eb1974", false},
		{obs("1"), "date", store.KindDate, "ge2020-01", false},
		{obs("1"), "date", store.KindDate, "lt2020-01", true},
		{obs("1"), "date", store.KindDate, "le2019-12-31", true},
		{obs("1"), "date", store.KindDate, "2019-12-31T23:59", true},
		{obs("1"), "date", store.KindDate, "2020-01-01T00:59:59+01:00", true}, // the same instant
		{obs("1"), "date", store.KindDate, "gt2019-12-31T23:59:58Z", true},
		{obs("100"), "value-quantity", store.KindQuantity, "100", true},
		{obs("100.2"), "value-quantity", store.KindQuantity, "100", true},
		{obs("100.5"), "value-quantity", store.KindQuantity, "100", false},
		{obs("99.5"), "value-quantity", store.KindQuantity, "100", false}, // [99.45, 99.55) is not inside [99.5, 100.5)
		{obs("99.6"), "value-quantity", store.KindQuantity, "100", true},
		{obs("100"), "value-quantity", store.KindQuantity, "100.0", false}, // 100 is less precise
		{obs("1.50"), "value-quantity", store.KindQuantity, "1.5", true},
		{obs("1.50"), "value-quantity", store.KindQuantity, "gt1.4", true},
		{obs("1.50"), "value-quantity", store.KindQuantity, "gt1.5", false},
		{obs("1.50"), "value-quantity", store.KindQuantity, "ge1.5", true},
		{obs("1.50"), "value-quantity", store.KindQuantity, "lt1.6", true},
		{obs("1.50"), "value-quantity", store.KindQuantity, "le1.5", true},
		{obs("1.50"), "value-quantity", store.KindQuantity, "lt1.5", false},
		{obs("1.50"), "value-quantity", store.KindQuantity, "ne1.5", false},
		{obs("1.50"), "value-quantity", store.KindQuantity, "ap1.6", true},
		{obs("1.50"), "value-quantity", store.KindQuantity, "ap5", false},
		{obs("1.50"), "value-quantity", store.KindQuantity, "sa1.4", true},
		{obs("1.50"), "value-quantity", store.KindQuantity, "eb1.6", true},
		{obs("1.50"), "value-quantity", store.KindQuantity, "15e-1", true},
		{obs("1.50"), "value-quantity", store.KindQuantity, "1e0", false},
	}
	for _, tt := range tests {
		v, err := ParseSearchValue(tt.kind, 0, tt.value)
		if err != nil {
			t.Fatal(err)
		}
		e := entry(tt.r, tt.param)
		if got := v.Prefix.Matches(v.Low, v.High, e.Low, e.High); got != tt.want {
			t.Errorf("%s=%s on [%v, %v): %v, want %v", tt.param, tt.value, e.Low, e.High, got, tt.want)
		}
	}
}
