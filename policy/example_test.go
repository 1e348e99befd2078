package policy_test

import (
	"fmt"

	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// How the API uses the policy for a search: authorize the type, add the filter to the query
// as clauses (an OR of groups where the type has several ways into the compartment), and check
// every _include, and the results of a system-level search, with Matches.
func ExampleAuthorize() {
	scopes, _, _ := policy.ParseScopes("patient/Observation.rs patient/Account.rs")
	p := policy.Principal{Scopes: scopes, Patient: "123"}

	for _, typ := range []string{"Account", "Observation", "Condition"} {
		d := policy.Authorize(p, policy.Request{Interaction: policy.InteractionSearch, Type: typ})
		if !d.Allow {
			fmt.Printf("%s: 403 (%v)\n", typ, d.Err())
			continue
		}
		q := store.Query{Types: []string{typ}}
		clauses, _ := d.Filter.Clauses(typ)
		q.Where = append(q.Where, clauses...)
		for _, c := range clauses {
			if c.AnyOf != nil {
				fmt.Printf("%s: any of %d groups %v\n", typ, len(c.AnyOf), policy.CompartmentRefs(typ, p.Patient))
			} else {
				fmt.Printf("%s: %s=%s/%s\n", typ, c.Param, c.Values[0].RefType, c.Values[0].RefID)
			}
		}
	}
	// Output:
	// Account: subject=Patient/123
	// Observation: any of 2 groups [{subject Patient/123} {performer Patient/123}]
	// Condition: 403 (policy: denied: no granted scope allows search on Condition)
}
