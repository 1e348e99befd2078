package smart_test

import (
	"fmt"

	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store"
)

// How the API uses the policy for a search: authorize the type, push what the store can
// evaluate into the query, and check every result (and every _include) with the filter.
func ExampleAuthorize() {
	scopes, _, _ := smart.ParseScopes("patient/Observation.rs patient/Account.rs")
	p := smart.Principal{Scopes: scopes, Patient: "123"}

	for _, typ := range []string{"Account", "Observation", "Condition"} {
		d := smart.Authorize(p, smart.Request{Interaction: smart.InteractionSearch, Type: typ})
		if !d.Allow {
			fmt.Printf("%s: 403 (%v)\n", typ, d.Err())
			continue
		}
		q := store.Query{Types: []string{typ}}
		if clauses, ok := d.Filter.Clauses(typ); ok {
			q.Where = append(q.Where, clauses...)
			fmt.Printf("%s: %d clause(s) added to the query\n", typ, len(clauses))
		} else {
			fmt.Printf("%s: filter results with Matches: %v\n", typ, smart.CompartmentRefs(typ, p.Patient))
		}
	}
	// Output:
	// Account: 1 clause(s) added to the query
	// Observation: filter results with Matches: [{subject Patient/123} {performer Patient/123}]
	// Condition: 403 (insufficient_scope: no granted scope allows search on Condition)
}
