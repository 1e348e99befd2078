package conformance

import (
	"context"
	"fmt"
	"slices"
)

// capabilityChecks verify [base]/metadata (R4 http.html#capabilities): what every client reads
// first to learn what the server does.
var capabilityChecks = []check{
	{"metadata", checkMetadata},
	{"metadata-formats", checkMetadataFormats},
	{"metadata-rest", checkMetadataRest},
}

func readCapabilityStatement(ctx context.Context, s *session) (*response, obj, error) {
	return s.read(ctx, "metadata", "CapabilityStatement")
}

// checkMetadata: 200, application/fhir+json, a CapabilityStatement for FHIR 4.0.1.
func checkMetadata(ctx context.Context, s *session) error {
	_, cs, err := readCapabilityStatement(ctx, s)
	if err != nil {
		return err
	}
	if v := str(cs, "fhirVersion"); v != "4.0.1" {
		return fmt.Errorf("fhirVersion %q, want 4.0.1", v)
	}
	return nil
}

// checkMetadataFormats: CapabilityStatement.format lists JSON, by its code or its media type.
func checkMetadataFormats(ctx context.Context, s *session) error {
	_, cs, err := readCapabilityStatement(ctx, s)
	if err != nil {
		return err
	}
	formats := strs(cs, "format")
	if !slices.Contains(formats, "json") && !slices.Contains(formats, "application/fhir+json") {
		return fmt.Errorf("format %q lists neither json nor application/fhir+json", formats)
	}
	return nil
}

// checkMetadataRest: a rest entry in server mode lists resource types, each with a type and at
// least one interaction, and no type twice: clients look capabilities up by type.
func checkMetadataRest(ctx context.Context, s *session) error {
	_, cs, err := readCapabilityStatement(ctx, s)
	if err != nil {
		return err
	}
	for _, rest := range list(cs, "rest") {
		if str(rest, "mode") != "server" {
			continue
		}
		resources := list(rest, "resource")
		if len(resources) == 0 {
			return fmt.Errorf("rest[mode=server] lists no resource types")
		}
		seen := map[string]bool{}
		for i, res := range resources {
			typ := str(res, "type")
			switch {
			case typ == "":
				return fmt.Errorf("rest.resource[%d] has no type", i)
			case seen[typ]:
				return fmt.Errorf("rest.resource lists %s twice", typ)
			case len(list(res, "interaction")) == 0:
				return fmt.Errorf("rest.resource[%s] lists no interaction", typ)
			}
			seen[typ] = true
		}
		return nil
	}
	return fmt.Errorf("no rest entry with mode %q", "server")
}
