package jsonpatch

import (
	"errors"
	"testing"

	"github.com/portico-health/portico/fhir"
)

func mustParse(t *testing.T, s string) fhir.Value {
	t.Helper()
	v, err := fhir.ParseJSON([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return v
}

// TestApply runs the examples of RFC 6902 appendix A and the cases Portico relies on
// (member order, decimal literals, pointer escapes).
func TestApply(t *testing.T) {
	tests := []struct {
		name, doc, patch, want string
	}{
		{"A.1 add object member", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux"}]`, `{"foo":"bar","baz":"qux"}`},
		{"A.2 add array element", `{"foo":["bar","baz"]}`, `[{"op":"add","path":"/foo/1","value":"qux"}]`, `{"foo":["bar","qux","baz"]}`},
		{"A.3 remove member", `{"baz":"qux","foo":"bar"}`, `[{"op":"remove","path":"/baz"}]`, `{"foo":"bar"}`},
		{"A.4 remove element", `{"foo":["bar","qux","baz"]}`, `[{"op":"remove","path":"/foo/1"}]`, `{"foo":["bar","baz"]}`},
		{"A.5 replace", `{"baz":"qux","foo":"bar"}`, `[{"op":"replace","path":"/baz","value":"boo"}]`, `{"baz":"boo","foo":"bar"}`},
		{"A.6 move member", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`,
			`[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`,
			`{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`},
		{"A.7 move element", `{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`, `{"foo":["all","cows","eat","grass"]}`},
		{"A.8 test success", `{"baz":"qux","foo":["a",2,"c"]}`, `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`, `{"baz":"qux","foo":["a",2,"c"]}`},
		{"A.10 add nested", `{"foo":"bar"}`, `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`, `{"foo":"bar","child":{"grandchild":{}}}`},
		{"A.11 unknown members ignored", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux","xyz":123}]`, `{"foo":"bar","baz":"qux"}`},
		{"A.14 escapes", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":10}]`, `{"/":9,"~1":10}`},
		{"A.16 add array value", `{"foo":["bar"]}`, `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`, `{"foo":["bar",["abc","def"]]}`},
		{"escaped slash member", `{"a/b":1}`, `[{"op":"replace","path":"/a~1b","value":2}]`, `{"a/b":2}`},
		{"escaped tilde member", `{"m~n":1}`, `[{"op":"remove","path":"/m~0n"}]`, `{}`},
		{"add replaces existing member in place", `{"a":1,"b":2,"c":3}`, `[{"op":"add","path":"/b","value":20}]`, `{"a":1,"b":20,"c":3}`},
		{"decimals kept", `{"v":1.50,"w":[1.0e2]}`, `[{"op":"add","path":"/x","value":0.010},{"op":"copy","from":"/v","path":"/y"}]`, `{"v":1.50,"w":[1.0e2],"x":0.010,"y":1.50}`},
		{"test compares numbers by value", `{"v":1.50}`, `[{"op":"test","path":"/v","value":1.5}]`, `{"v":1.50}`},
		{"test compares objects regardless of order", `{"o":{"a":1,"b":[true,null]}}`, `[{"op":"test","path":"/o","value":{"b":[true,null],"a":1}}]`, `{"o":{"a":1,"b":[true,null]}}`},
		{"replace root", `{"a":1}`, `[{"op":"replace","path":"","value":{"b":2}}]`, `{"b":2}`},
		{"add at array end by index", `{"a":[1]}`, `[{"op":"add","path":"/a/1","value":2}]`, `{"a":[1,2]}`},
		{"move to same place", `{"a":1}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":1}`},
		{"copy then change copy only", `{"a":{"x":1}}`, `[{"op":"copy","from":"/a","path":"/b"},{"op":"replace","path":"/b/x","value":2}]`, `{"a":{"x":1},"b":{"x":2}}`},
		{"empty patch", `{"a":1}`, `[]`, `{"a":1}`},
		{"null value", `{"a":1}`, `[{"op":"replace","path":"/a","value":null}]`, `{"a":null}`},
		{"empty key", `{"":1}`, `[{"op":"replace","path":"/","value":2}]`, `{"":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(tt.patch))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			doc := mustParse(t, tt.doc)
			got, err := p.Apply(doc)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if s := string(fhir.AppendJSON(nil, got)); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
			if s := string(fhir.AppendJSON(nil, doc)); s != string(fhir.AppendJSON(nil, mustParse(t, tt.doc))) {
				t.Errorf("input modified: %s", s)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name, doc, patch string
		testFailed       bool
	}{
		{"A.9 test failure", `{"baz":"qux"}`, `[{"op":"test","path":"/baz","value":"bar"}]`, true},
		{"A.15 test string vs number", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":"10"}]`, true},
		{"test on missing path", `{}`, `[{"op":"test","path":"/a","value":1}]`, false},
		{"A.12 add to nonexistent target", `{"foo":"bar"}`, `[{"op":"add","path":"/baz/bat","value":"qux"}]`, false},
		{"remove missing member", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, false},
		{"remove root", `{"a":1}`, `[{"op":"remove","path":""}]`, false},
		{"replace missing member", `{"a":1}`, `[{"op":"replace","path":"/b","value":1}]`, false},
		{"index out of range", `{"a":[1]}`, `[{"op":"add","path":"/a/2","value":1}]`, false},
		{"index with leading zero", `{"a":[1,2]}`, `[{"op":"remove","path":"/a/01"}]`, false},
		{"dash on remove", `{"a":[1]}`, `[{"op":"remove","path":"/a/-"}]`, false},
		{"move into own child", `{"a":{"b":{}}}`, `[{"op":"move","from":"/a","path":"/a/b/c"}]`, false},
		{"move missing from", `{"a":1}`, `[{"op":"move","from":"/x","path":"/y"}]`, false},
		{"through a scalar", `{"a":1}`, `[{"op":"add","path":"/a/b","value":1}]`, false},
		{"failure after a good op", `{"a":1}`, `[{"op":"add","path":"/b","value":2},{"op":"test","path":"/a","value":2}]`, true},
		{"huge exponent does not equal", `{"a":1e999999999}`, `[{"op":"test","path":"/a","value":1e999999998}]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(tt.patch))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			_, err = p.Apply(mustParse(t, tt.doc))
			var ae *ApplyError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an *ApplyError", err)
			}
			if got := errors.Is(err, ErrTestFailed); got != tt.testFailed {
				t.Errorf("errors.Is(err, ErrTestFailed) = %v, want %v (%v)", got, tt.testFailed, err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, patch string }{
		{"not JSON", `[{"op":`},
		{"not an array", `{"op":"add","path":"/a","value":1}`},
		{"operation not an object", `["add"]`},
		{"A.13 missing op", `[{"path":"/a","value":1}]`},
		{"unknown op", `[{"op":"merge","path":"/a","value":1}]`},
		{"op not a string", `[{"op":1,"path":"/a"}]`},
		{"missing path", `[{"op":"remove"}]`},
		{"path not a string", `[{"op":"remove","path":3}]`},
		{"path without slash", `[{"op":"remove","path":"a"}]`},
		{"bad escape", `[{"op":"remove","path":"/a~2"}]`},
		{"trailing tilde", `[{"op":"remove","path":"/a~"}]`},
		{"add without value", `[{"op":"add","path":"/a"}]`},
		{"test without value", `[{"op":"test","path":"/a"}]`},
		{"move without from", `[{"op":"move","path":"/a"}]`},
		{"copy with bad from", `[{"op":"copy","from":"x","path":"/a"}]`},
		{"duplicate member", `[{"op":"add","op":"remove","path":"/a"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.patch))
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DocumentError", err)
			}
		})
	}
}

func TestPointerRoundTrip(t *testing.T) {
	for _, s := range []string{"", "/", "/a", "/a~1b/~0/0", "//x"} {
		p, err := ParsePointer(s)
		if err != nil {
			t.Fatalf("ParsePointer(%q): %v", s, err)
		}
		if got := p.String(); got != s {
			t.Errorf("ParsePointer(%q).String() = %q", s, got)
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add(`{"a":[1,2,{"b":1.50}]}`, `[{"op":"move","from":"/a/2","path":"/c"},{"op":"test","path":"/c/b","value":1.5}]`)
	f.Add(`{"a~b":{"c/d":[]}}`, `[{"op":"add","path":"/a~0b/c~1d/-","value":{"x":null}}]`)
	f.Fuzz(func(t *testing.T, doc, patch string) {
		if len(doc)+len(patch) > 4096 {
			return
		}
		d, err := fhir.ParseJSON([]byte(doc))
		if err != nil {
			return
		}
		p, err := Decode([]byte(patch))
		if err != nil {
			return
		}
		before := string(fhir.AppendJSON(nil, d))
		out, err := p.Apply(d)
		if after := string(fhir.AppendJSON(nil, d)); after != before {
			t.Fatalf("input modified: %s -> %s", before, after)
		}
		if err == nil {
			if _, err := fhir.ParseJSON(fhir.AppendJSON(nil, out)); err != nil {
				t.Fatalf("result is not valid JSON: %v", err)
			}
		}
	})
}
