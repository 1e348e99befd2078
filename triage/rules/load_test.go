package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultLoads(t *testing.T) {
	r, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups()) == 0 || len(r.File.Languages) < 2 {
		t.Fatalf("default rules look empty: %d groups, %d languages", len(r.Groups()), len(r.File.Languages))
	}
}

func TestLoadPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(path, DefaultJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: got %v, want ErrNotExist", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	bad := `{
  "version": 1,
  "categories": [{"code": "clinical"}, {"code": "other"}],
  "default_category": "other",
  "symptom_category": "clinical",
  "languages": {"en": {
    "priority": {
      "stat": [{"id": "a", "phrases": ["chest pain", ""]}],
      "critical": [{"id": "b", "phrases": ["x"]}]
    },
    "category": {"refills": [{"id": "c", "phrases": ["refill"]}]},
    "escalators": [{"id": "d", "priority": "soon", "phrases": ["* worse"]}]
  }},
  "patterns": [{"id": "p", "regex": "([", "priority": "stat"}]
}`
	_, err := Parse([]byte(bad))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want Problems", err)
	}
	for _, want := range []string{"empty phrase", `unknown key "critical"`, `unknown category "refills"`,
		`unknown priority "soon"`, `cannot start or end with "*"`, "bad regex"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not mention %q:\n%v", want, err)
		}
	}
	if len(ps) < 6 {
		t.Errorf("got %d problems, want at least 6: %v", len(ps), ps)
	}
}

func TestUnknownField(t *testing.T) {
	if _, err := Parse([]byte(`{"version": 1, "colour": "red"}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
}

func TestTokenize(t *testing.T) {
	toks := Tokenize("I can't breathe. Fever 39,5 — ¡Dolor de PECHO!", nil)
	var got []string
	for _, tk := range toks {
		got = append(got, tk.Text)
	}
	if s := strings.Join(got, " "); s != "i cant breathe fever 39.5 dolor de pecho" {
		t.Errorf("tokens %q", s)
	}
	if toks[2].Clause == toks[3].Clause {
		t.Error("a full stop should end a clause")
	}
}

func TestFuzzy(t *testing.T) {
	m := &Default().m
	for _, tt := range []struct {
		token, word string
		want        bool
	}{
		{"pian", "pain", true},  // swap, short word
		{"paid", "pain", false}, // substitution, short word
		{"shortnss", "shortness", true},
		{"throut", "throat", true},
		{"smelling", "swelling", false}, // excluded real word
	} {
		id, ok := m.vocab[tt.word]
		if !ok {
			t.Fatalf("%q not in vocabulary", tt.word)
		}
		got := false
		for _, c := range m.candidates(tt.token, nil) {
			got = got || c.id == id
		}
		if got != tt.want {
			t.Errorf("%q ~ %q: got %v, want %v", tt.token, tt.word, got, tt.want)
		}
	}
}

func TestPriorityCodes(t *testing.T) {
	for p := Routine; p <= Stat; p++ {
		if q, ok := ParsePriority(p.String()); !ok || q != p {
			t.Errorf("%v does not round-trip", p)
		}
	}
	if !(Routine < Urgent && Urgent < ASAP && ASAP < Stat) {
		t.Error("priorities out of order")
	}
}
