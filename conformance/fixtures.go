package conformance

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
)

// The fixtures are embedded so that the suite runs from the binary alone, wherever it is.
//
//go:embed testdata/fixtures/*.json
var fixtureFS embed.FS

// identifierSystem is the Identifier.system of every resource the suite creates; with the
// run's unique values it lets conditional interactions select exactly one check's resources.
const identifierSystem = "https://example.org/fhir/portico-conformance"

// fixture returns testdata/fixtures/<name> with {{system}} and the given placeholders filled
// (pairs of name, value). Substituting text rather than re-encoding keeps the fixture byte for
// byte as written, number literals included.
func fixture(name string, vars ...string) []byte {
	data, err := fixtureFS.ReadFile("testdata/fixtures/" + name)
	if err != nil {
		panic(fmt.Sprintf("conformance: missing fixture %s", name)) // a bug in the suite, not the server
	}
	pairs := []string{"{{system}}", identifierSystem}
	for i := 0; i+1 < len(vars); i += 2 {
		pairs = append(pairs, "{{"+vars[i]+"}}", vars[i+1])
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(data)))
}

// edit decodes a resource, lets f change it, and encodes it again. Numbers keep their literal
// text (json.Number); member order is lost, which JSON and FHIR allow.
func edit(data []byte, f func(r obj)) []byte {
	v, err := decodeJSON(data)
	if err != nil {
		panic(fmt.Sprintf("conformance: fixture is not JSON: %v", err))
	}
	r := v.(obj)
	f(r)
	out, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("conformance: encoding an edited fixture: %v", err))
	}
	return out
}
