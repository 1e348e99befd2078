package api

import (
	"errors"
	"fmt"
	"testing"

	"github.com/portico-health/portico/store"
)

func TestParseConditions(t *testing.T) {
	tok := func(sys, code string, anySys, anyCode bool) store.Value {
		return store.Value{System: sys, Code: code, AnySystem: anySys, AnyCode: anyCode}
	}
	ident := func(vals ...store.Value) store.Clause {
		return store.Clause{Param: "identifier", Kind: store.KindToken, Values: vals}
	}
	tests := []struct {
		name, query string
		want        []store.Clause
		status      int // of the error, 0 for none
	}{
		{"code", "identifier=123", []store.Clause{ident(tok("", "123", true, false))}, 0},
		{"system|code", "identifier=urn:a|123", []store.Clause{ident(tok("urn:a", "123", false, false))}, 0},
		{"|code", "identifier=|123", []store.Clause{ident(tok("", "123", false, false))}, 0},
		{"system|", "identifier=urn:a|", []store.Clause{ident(tok("urn:a", "", false, true))}, 0},
		{"OR", "identifier=urn:a|1,2", []store.Clause{ident(tok("urn:a", "1", false, false), tok("", "2", true, false))}, 0},
		{"escaped comma and bar", `identifier=urn:a|1\,2\|3`, []store.Clause{ident(tok("urn:a", "1,2|3", false, false))}, 0},
		{"percent-encoded", "identifier=urn%3Aa%7C1", []store.Clause{ident(tok("urn:a", "1", false, false))}, 0},
		{"AND", "identifier=1&identifier=2", []store.Clause{ident(tok("", "1", true, false)), ident(tok("", "2", true, false))}, 0},
		{"_id", "_id=a,b", []store.Clause{{Param: "_id", Kind: store.KindToken, Values: []store.Value{{Code: "a"}, {Code: "b"}}}}, 0},
		{"control parameters skipped", "?_format=json&identifier=1&_pretty=true", []store.Clause{ident(tok("", "1", true, false))}, 0},
		{"none", "", nil, 0},
		{"empty pairs", "&&", nil, 0},
		{"unknown parameter", "nosuch=x", nil, 400},
		{"any search parameter", "name=x", []store.Clause{{Param: "name", Kind: store.KindString, Values: []store.Value{{Text: "x"}}}}, 0},
		{"unknown modifier", "identifier:foo=1", nil, 400},
		{"_count is not a condition", "_count=1", nil, 400},
		{"empty token", "identifier=", nil, 400},
		{"bar alone", "identifier=|", nil, 400},
		{"empty OR value", "identifier=1,", nil, 400},
		{"bad _id", "_id=a/b", nil, 400},
		{"bad escape", "identifier=%zz", nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{Store: nopStore{}, BaseURL: "http://localhost/fhir"})
			if err != nil {
				t.Fatal(err)
			}
			q, ok, err := a.parseConditions("Patient", tt.query)
			if tt.status != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != tt.status {
					t.Fatalf("err %v, want status %d", err, tt.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != (len(tt.want) > 0) || len(q.Types) != 1 || q.Types[0] != "Patient" || fmt.Sprint(q.Where) != fmt.Sprint(tt.want) {
				t.Errorf("got %v (ok %v), want %v", q.Where, ok, tt.want)
			}
		})
	}
}

func TestParseETag(t *testing.T) {
	for s, want := range map[string]int64{`W/"1"`: 1, `"42"`: 42, `W/"0"`: 0, `1`: 0, `W/1`: 0, `W/""`: 0, `"-1"`: 0, `"a"`: 0, `w/"1"`: 0} {
		got, ok := parseETag(s)
		if (want == 0) == ok || got != want {
			t.Errorf("parseETag(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
}

// nopStore is a store for tests that never reach it.
type nopStore struct{ store.Store }
