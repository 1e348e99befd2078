package api

import "testing"

func TestAcceptJSON(t *testing.T) {
	tests := []struct {
		name, accept string
		want         string // "" for 406
	}{
		{"absent", "", contentTypeFHIR},
		{"fhir+json", "application/fhir+json", contentTypeFHIR},
		{"json", "application/json", contentTypeJSON},
		{"any", "*/*", contentTypeFHIR},
		{"application any", "application/*", contentTypeFHIR},
		{"old name", "application/json+fhir", contentTypeFHIR},
		{"fhirVersion 4.0", "application/fhir+json; fhirVersion=4.0", contentTypeFHIR},
		{"fhirVersion 3.0", "application/fhir+json; fhirVersion=3.0", ""},
		{"fhirVersion 3.0 with fallback", "application/fhir+json; fhirVersion=3.0, application/json;q=0.5", contentTypeJSON},
		{"charset utf-8", "application/fhir+json; charset=utf-8", contentTypeFHIR},
		{"charset latin1", "application/fhir+json; charset=iso-8859-1", ""},
		{"xml only", "application/fhir+xml", ""},
		{"xml and html", "application/fhir+xml, text/html", ""},
		{"xml preferred, json accepted", "application/fhir+xml, application/fhir+json;q=0.1", contentTypeFHIR},
		{"json preferred over fhir+json", "application/fhir+json;q=0.5, application/json", contentTypeJSON},
		{"tie prefers fhir+json", "application/json, application/fhir+json", contentTypeFHIR},
		{"fhir+json refused, any accepted", "application/fhir+json;q=0, */*", contentTypeJSON},
		{"everything refused", "*/*;q=0", ""},
		{"browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", contentTypeFHIR},
		{"bad q ignored range", "application/fhir+json;q=2", ""},
		{"case-insensitive", "Application/FHIR+JSON", contentTypeFHIR},
		{"text only", "text/plain", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := acceptJSON([]string{tt.accept})
			if !ok {
				got = ""
			}
			if got != tt.want {
				t.Errorf("acceptJSON(%q) = %q, want %q", tt.accept, got, tt.want)
			}
		})
	}
}

func TestFormatParam(t *testing.T) {
	for v, ok := range map[string]bool{
		"json": true, "application/json": true, "application/fhir+json": true, "application/fhir json": true,
		"application/fhir+json;fhirVersion=4.0": true, "application/fhir+json;fhirVersion=5.0": false,
		"xml": false, "text/xml": false, "application/fhir+xml": false, "html": false, "ttl": false, "": false,
	} {
		if got := formatParamOK(v); got != ok {
			t.Errorf("formatParamOK(%q) = %v, want %v", v, got, ok)
		}
	}
}

func TestContentTypeOK(t *testing.T) {
	resource := []string{mimeFHIRJSON, mimeJSON, mimeFHIRJSONOld}
	for ct, ok := range map[string]bool{
		"application/fhir+json":                  true,
		"application/json":                       true,
		"application/fhir+json; charset=utf-8":   true,
		"application/fhir+json; charset=UTF-8":   true,
		"application/json;charset=utf-8":         true,
		"application/fhir+json; fhirVersion=4.0": true,
		"application/fhir+json; fhirVersion=1.0": false,
		"application/fhir+json; charset=utf-16":  false,
		"application/fhir+xml":                   false,
		"application/xml":                        false,
		"text/plain":                             false,
		"application/json-patch+json":            false,
		"":                                       false,
		"garbage;;":                              false,
	} {
		if got := contentTypeOK(ct, resource); got != ok {
			t.Errorf("contentTypeOK(%q) = %v, want %v", ct, got, ok)
		}
	}
}
