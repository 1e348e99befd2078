package r4

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestRoundTrip decodes the shared example resources into the generated structs and encodes
// them again: the JSON must mean the same, number literals included (1.50 stays 1.50).
func TestRoundTrip(t *testing.T) {
	newResource := map[string]func() any{
		"Patient":       func() any { return new(Patient) },
		"Observation":   func() any { return new(Observation) },
		"Appointment":   func() any { return new(Appointment) },
		"Communication": func() any { return new(Communication) },
		"Invoice":       func() any { return new(Invoice) },
	}
	files, err := filepath.Glob("../../testdata/resources/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var head struct{ ResourceType string }
			if err := json.Unmarshal(data, &head); err != nil {
				t.Fatal(err)
			}
			mk, ok := newResource[head.ResourceType]
			if !ok {
				t.Skipf("no round trip case for %s yet", head.ResourceType)
			}
			r := mk()
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(r); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if want, got := generic(t, data), generic(t, out); !reflect.DeepEqual(want, got) {
				t.Errorf("round trip changed the resource:\n got: %s\nwant: %s", out, data)
			}
		})
	}
}

// generic decodes JSON keeping number literals, so that 1.5 and 1.50 compare unequal.
func generic(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want string
	}{
		{`1.50`, true, `1.50`},
		{`0.0100`, true, `0.0100`},
		{`-3e-2`, true, `-3e-2`},
		{`"1.5"`, false, ``},
		{`01`, false, ``},
	} {
		var q Quantity
		err := json.Unmarshal([]byte(`{"value":`+tc.in+`}`), &q)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		out, _ := json.Marshal(q)
		if want := `{"value":` + tc.want + `}`; string(out) != want {
			t.Errorf("%s: encoded %s, want %s", tc.in, out, want)
		}
	}
	if _, err := NewDecimal("1.2.3"); err == nil {
		t.Error("NewDecimal accepted 1.2.3")
	}
	if _, err := json.Marshal(Quantity{Value: "abc"}); err == nil {
		t.Error("marshalled a Decimal that is not a number")
	}
}

// TestCodeTypes: required bindings give fields a code type with constants.
func TestCodeTypes(t *testing.T) {
	p := Patient{ResourceType: "Patient", Gender: AdministrativeGenderFemale, Active: new(true)}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"resourceType":"Patient","active":true,"gender":"female"}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}
