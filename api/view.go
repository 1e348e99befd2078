package api

import (
	"context"

	"github.com/portico-health/portico/guard"
)

// Access is enforced in package guard: every handler and every Bundle entry reaches the store
// through the guard.View of its request (a.view), built from the caller's policy.Principal,
// and never through the store itself, which the API does not hold. What the view refuses is
// a *policy.DeniedError (403); what it hides is store.ErrNotFound (404). docs/smart.md.

// view is the store as the caller of the request in ctx may see and change it.
func (a *API) view(ctx context.Context) (*guard.View, error) { return a.guard.View(ctx) }
