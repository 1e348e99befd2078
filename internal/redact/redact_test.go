package redact

import (
	"strings"
	"testing"
)

func TestMessage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sqlite: database is locked (5) (SQLITE_BUSY)", "sqlite: database is locked (5) (SQLITE_BUSY)"},
		{"write Observation/0193f6a2-7c1e-7a3b-9d2e-3f4a5b6c7d8e: disk I/O error", "write Observation/…: disk I/O error"},
		{"read Patient/p1/_history/2 failed", "read Patient/… failed"},
		{"GET /fhir/Patient/abc: context canceled", "GET /fhir/Patient/…: context canceled"},
		{"id abcdefab-cdef-abcd-efab-cdefabcdefab gone", "id … gone"},
		{"mrn 12345678 and code 404", "mrn … and code 404"},
		{"user=jane.doe@example.org denied", "user=… denied"},
		{`name "Peter Chalmers" rejected`, `name "…" rejected`},
		{"value 'Chalmers, Peter' and `x` «y»", "value '…' and `…` «…»"},
		{"unterminated \"secret text here", "unterminated \"…"},
		{"can't open file", "can't open file"},
		{"cursor eyJ0eXAiOiJKV1Qi expired", "cursor … expired"},
		{"dial tcp 10.0.0.7:27017: connection refused", "dial tcp 10.0.0.7:…: connection refused"},
		{"multiple errors: a.\nb", "multiple errors: a.\nb"},
	} {
		if got := Message(tc.in); got != tc.want {
			t.Errorf("Message(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMessageBounded(t *testing.T) {
	got := Message(strings.Repeat("word ", 1000))
	if len(got) > MaxLen+len(Mask)+8 || !strings.HasSuffix(got, Mask) {
		t.Errorf("len %d, ends %q", len(got), got[len(got)-10:])
	}
}
