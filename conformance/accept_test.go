package conformance

import "testing"

func TestAcceptsJSON(t *testing.T) {
	tests := []struct {
		name   string
		format string
		accept []string
		want   bool
	}{
		{"no header", "", nil, true},
		{"empty header", "", []string{""}, true},
		{"fhir json", "", []string{"application/fhir+json"}, true},
		{"fhir json with version", "", []string{"application/fhir+json; fhirVersion=4.0"}, true},
		{"plain json", "", []string{"application/json"}, true},
		{"dstu2 json", "", []string{"application/json+fhir"}, true},
		{"any", "", []string{"*/*"}, true},
		{"application any", "", []string{"application/*"}, true},
		{"browser", "", []string{"text/html,application/xhtml+xml,*/*;q=0.8"}, true},
		{"xml only", "", []string{"application/fhir+xml"}, false},
		{"xml in two headers", "", []string{"application/fhir+xml", "application/xml"}, false},
		{"json at q=0", "", []string{"application/fhir+json;q=0"}, false},
		{"malformed only", "", []string{";;"}, false},
		{"format json beats xml accept", "json", []string{"application/fhir+xml"}, true},
		{"format mime type", "application/fhir+json", nil, true},
		{"format xml beats json accept", "xml", []string{"application/fhir+json"}, false},
		{"format turtle", "ttl", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acceptsJSON(tt.format, tt.accept); got != tt.want {
				t.Errorf("acceptsJSON(%q, %q) = %v, want %v", tt.format, tt.accept, got, tt.want)
			}
		})
	}
}
