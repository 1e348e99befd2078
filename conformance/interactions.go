package conformance

// Interactions describes the RESTful interactions a server offers for each resource type and
// for the whole system, in the terms of CapabilityStatement.rest (R4 capabilitystatement.html).
type Interactions struct {
	// Type lists TypeRestfulInteraction codes offered for every resource type, in the order
	// they are listed: read, vread, update, patch, delete, history-instance, history-type,
	// create, search-type.
	Type []string
	// System lists SystemRestfulInteraction codes: transaction, batch, search-system,
	// history-system.
	System []string

	Versioning        string // no-version | versioned | versioned-update
	ReadHistory       bool   // vread of past versions works
	UpdateCreate      bool   // PUT to a new id creates the resource
	ConditionalCreate bool   // POST with If-None-Exist
	ConditionalRead   string // not-supported | modified-since | not-match | full-support
	ConditionalUpdate bool   // PUT [type]?criteria
	ConditionalDelete string // not-supported | single | multiple
}

// DefaultInteractions is what the api package implements: every instance and type interaction,
// type and system search, system history, batch and transaction, version-aware updates (If-Match), conditional reads
// by If-None-Match and If-Modified-Since, and conditional create, update and single delete.
func DefaultInteractions() Interactions {
	return Interactions{
		Type: []string{
			"read", "vread", "update", "patch", "delete",
			"history-instance", "history-type", "create", "search-type",
		},
		System:            []string{"transaction", "batch", "search-system", "history-system"},
		Versioning:        "versioned-update",
		ReadHistory:       true,
		UpdateCreate:      true,
		ConditionalCreate: true,
		ConditionalRead:   "full-support",
		ConditionalUpdate: true,
		ConditionalDelete: "single",
	}
}
