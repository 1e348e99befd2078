package conformance

import (
	"time"

	"github.com/portico-health/portico/internal/buildinfo"
)

// Description is what a server really serves, from which its CapabilityStatement is built.
// Zero fields take the defaults documented on each, which match what the api package implements,
// so a caller names only what it knows (the base URL and the served types).
type Description struct {
	BaseURL       string   // the FHIR base, CapabilityStatement.implementation.url
	ResourceTypes []string // the served types; listed sorted so the document is stable

	SoftwareName    string    // default "Portico"
	SoftwareVersion string    // default: the build's version, as `portico version` prints it (buildinfo)
	Date            time.Time // default: when Handler or CapabilityStatement was called

	// Interactions is what every type supports; nil means DefaultInteractions().
	Interactions *Interactions

	Formats      []string // default: json, application/fhir+json
	PatchFormats []string // default: application/json-patch+json, application/fhir+json (FHIRPath Patch)

	// SearchParams lists the search parameters of a type, for rest.resource.searchParam. Nil
	// lists none: a server must not advertise parameters its search cannot evaluate.
	SearchParams func(resourceType string) []SearchParam

	// Operations lists the type-level operations of a type, for rest.resource.operation.
	Operations func(resourceType string) []Operation

	// Security, when set, is the SMART on FHIR authorization protecting the API: the
	// CapabilityStatement then carries rest.security with the SMART-on-FHIR service and the
	// oauth-uris extension (SMART App Launch 2.2 conformance.html). Nil: an open server.
	Security *Security
}

// Security lists the OAuth endpoints of the authorization server (absolute URLs) that the
// oauth-uris extension may carry. R4's definition of that extension allows only authorize,
// token, register and manage: introspection and revocation are published in the SMART
// configuration (.well-known/smart-configuration) instead, where SMART 2.2 defines them.
type Security struct {
	AuthorizeURL, TokenURL string
}

// Operation is one CapabilityStatement.rest.resource.operation.
type Operation struct {
	Name       string // the name used in URLs, without '$', e.g. "triage-stats"
	Definition string // canonical URL of its OperationDefinition
}

// SearchParam is one CapabilityStatement.rest.resource.searchParam.
type SearchParam struct {
	Name       string // the code used in URLs, e.g. "identifier"
	Definition string // canonical URL of the SearchParameter, may be empty
	Type       string // number | date | string | token | reference | composite | quantity | uri | special
}

// withDefaults fills the zero fields; now is the default Date.
func (d Description) withDefaults(now time.Time) Description {
	if d.SoftwareName == "" {
		d.SoftwareName = "Portico"
	}
	if d.SoftwareVersion == "" {
		d.SoftwareVersion = buildinfo.Version()
	}
	if d.Date.IsZero() {
		d.Date = now
	}
	if d.Interactions == nil {
		in := DefaultInteractions()
		d.Interactions = &in
	}
	if d.Formats == nil {
		d.Formats = []string{"json", "application/fhir+json"}
	}
	if d.PatchFormats == nil {
		d.PatchFormats = []string{"application/json-patch+json", "application/fhir+json"}
	}
	return d
}
