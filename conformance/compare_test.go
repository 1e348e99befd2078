package conformance

import (
	"strings"
	"testing"
)

func mustDecode(t *testing.T, s string) obj {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v.(obj)
}

func TestSameResource(t *testing.T) {
	const sent = `{"resourceType": "Observation", "meta": {"profile": ["p"]},
		"valueQuantity": {"value": 1.50}, "note": [{"text": "a"}],
		"_status": {"extension": [{"url": "u", "valueString": "x"}]}, "status": "final"}`
	tests := []struct {
		name string
		got  string
		diff string // a substring of the error, or "" when equal
	}{
		{"identical apart from order and server fields", `{"status": "final", "id": "1",
			"meta": {"versionId": "3", "lastUpdated": "2025-01-01T00:00:00Z", "profile": ["p"]},
			"note": [{"text": "a"}], "resourceType": "Observation", "valueQuantity": {"value": 1.50},
			"_status": {"extension": [{"url": "u", "valueString": "x"}]},
			"text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`, ""},
		{"decimal precision lost", `{"resourceType": "Observation", "meta": {"profile": ["p"]},
			"valueQuantity": {"value": 1.5}, "note": [{"text": "a"}],
			"_status": {"extension": [{"url": "u", "valueString": "x"}]}, "status": "final"}`,
			"Observation.valueQuantity.value: got 1.5, want 1.50"},
		{"primitive extension dropped", `{"resourceType": "Observation", "meta": {"profile": ["p"]},
			"valueQuantity": {"value": 1.50}, "note": [{"text": "a"}], "status": "final"}`,
			"Observation._status: missing"},
		{"profile dropped", `{"resourceType": "Observation",
			"valueQuantity": {"value": 1.50}, "note": [{"text": "a"}],
			"_status": {"extension": [{"url": "u", "valueString": "x"}]}, "status": "final"}`,
			"meta.profile: got null"},
		{"element added", `{"resourceType": "Observation", "meta": {"profile": ["p"]},
			"valueQuantity": {"value": 1.50}, "note": [{"text": "a"}, {"text": "b"}],
			"_status": {"extension": [{"url": "u", "valueString": "x"}]}, "status": "final", "issued": "2025"}`,
			"Observation.issued: not sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sameResource(mustDecode(t, sent), mustDecode(t, tt.got))
			switch {
			case tt.diff == "" && err != nil:
				t.Errorf("unexpected difference: %v", err)
			case tt.diff != "" && err == nil:
				t.Errorf("no difference found, want %q", tt.diff)
			case tt.diff != "" && !strings.Contains(err.Error(), tt.diff):
				t.Errorf("error %q does not mention %q", err, tt.diff)
			}
		})
	}
}

// TestSameResourceSentNarrative: a narrative the client sent is content like any other.
func TestSameResourceSentNarrative(t *testing.T) {
	sent := mustDecode(t, `{"resourceType": "Patient", "text": {"status": "generated", "div": "<div>a</div>"}}`)
	got := mustDecode(t, `{"resourceType": "Patient", "text": {"status": "generated", "div": "<div>b</div>"}}`)
	if err := sameResource(sent, got); err == nil {
		t.Error("a changed narrative went unnoticed")
	}
}

func TestParseLocation(t *testing.T) {
	tests := []struct {
		loc, id, version string
	}{
		{"http://h/fhir/Patient/abc/_history/1", "abc", "1"},
		{"http://h/fhir/Patient/abc", "abc", ""},
		{"/fhir/Patient/abc/_history/12", "abc", "12"},
		{"Patient/abc/_history/2", "abc", "2"},
		{"http://h/fhir/Patient/abc/_history", "", ""},
		{"http://h/fhir/Observation/abc", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		id, v := parseLocation(tt.loc, "Patient")
		if id != tt.id || v != tt.version {
			t.Errorf("parseLocation(%q) = %q, %q; want %q, %q", tt.loc, id, v, tt.id, tt.version)
		}
	}
}
