package fhir

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedDefs is where the official R4 definitions sit: beside the repository.
const sharedDefs = "../../shared/fhir-r4"

// corpusSkips are the official resources the validator rightly rejects.
var corpusSkips = map[string]string{
	"StructureDefinition/SubscriptionStatus": "an R4B (4.3.0) definition shipped with the R4 files; 4.3.0 is not an R4 FHIR version",
}

// TestOfficialResourcesValidate validates every resource of the official definition files
// (StructureDefinitions, ValueSets, CodeSystems, SearchParameters, OperationDefinitions, US Core
// profiles: some 3,600 resources written by HL7's tooling), a guard against false positives.
func TestOfficialResourcesValidate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedDefs, "*.json"))
	core, _ := filepath.Glob(filepath.Join(sharedDefs, "us-core", "*.json"))
	files = append(files, core...)
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the R4 definitions must be beside the repository in CI (%s)", sharedDefs)
		}
		t.Skipf("the R4 definitions are not beside the repository (%s)", sharedDefs)
	}
	for _, file := range files {
		if filepath.Base(file) == "fhir.schema.json" {
			continue // a JSON schema, not a resource
		}
		name, _ := filepath.Rel(sharedDefs, file)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			root, err := ParseJSON(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range resourcesIn(&root) {
				key := r.Get("resourceType").Text + "/" + r.Get("id").Text
				if _, skip := corpusSkips[key]; skip {
					continue
				}
				if issues := Validate(r); len(issues) > 0 {
					t.Errorf("%s:%s", key, dump(issues))
				}
			}
		})
	}
}

// resourcesIn lists the resources of a Bundle, of a JSON array of resources, or the resource.
func resourcesIn(root *Value) []*Value {
	var out []*Value
	switch {
	case root.Kind == Array:
		for i := range root.Arr {
			out = append(out, &root.Arr[i])
		}
	case root.Get("entry") != nil:
		entries := root.Get("entry")
		for i := range entries.Arr {
			out = append(out, entries.Arr[i].Get("resource"))
		}
	default:
		out = append(out, root)
	}
	return out
}
