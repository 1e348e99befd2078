package server

import (
	"context"
	"github.com/portico-health/portico/policy"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/smart"
)

// Values of --auth.
const (
	AuthSMART = "smart" // tokens required on the FHIR API (the default)
	AuthNone  = "none"  // an open server, for local development only
)

// smartAuthorizer adapts policy.Authorize to api.Authorizer: the Principal comes from the
// request context, where the smart middleware put it.
type smartAuthorizer struct{}

var interactions = map[api.Access]policy.Interaction{
	api.AccessRead:      policy.InteractionRead,
	api.AccessVRead:     policy.InteractionVRead,
	api.AccessSearch:    policy.InteractionSearch,
	api.AccessCreate:    policy.InteractionCreate,
	api.AccessUpdate:    policy.InteractionUpdate,
	api.AccessPatch:     policy.InteractionPatch,
	api.AccessDelete:    policy.InteractionDelete,
	api.AccessHistory:   policy.InteractionHistory,
	api.AccessOperation: policy.InteractionOperation,
}

func (smartAuthorizer) Authorize(ctx context.Context, r api.AccessRequest) (api.ResultFilter, error) {
	p, ok := policy.PrincipalFrom(ctx)
	if !ok { // cannot happen behind the middleware: fail closed
		e := *smart.ErrInvalidToken
		e.Description = "a bearer token is required"
		return nil, &e
	}
	in, ok := interactions[r.Access]
	if !ok {
		in = 0 // unknown: smart fails closed
	}
	req := policy.Request{Interaction: in, Type: r.Type, ID: r.ID, Operation: r.Operation}
	if r.Resource != nil {
		req.Resource = &policy.Resource{ID: r.Resource.ID, Index: r.Resource.Index}
	}
	d := policy.Authorize(p, req)
	if !d.Allow {
		return nil, d.Err()
	}
	if d.Filter == nil {
		return nil, nil // never a nil *smart.Filter inside a non-nil interface
	}
	return d.Filter, nil
}

// requireUnrestricted guards an operation whose output aggregates many patients' data (the
// triage statistics): the token must allow the operation on typ without any compartment or
// granular restriction (a system/ scope, or a user/ scope of a practitioner). A patient's
// token gets 403.
func requireUnrestricted(typ, op string, h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		f, err := smartAuthorizer{}.Authorize(c.Request().Context(), api.AccessRequest{Access: api.AccessOperation, Type: typ, Operation: op})
		if err != nil {
			return err
		}
		if f != nil {
			e := *smart.ErrInsufficientScope
			e.Description = op + " reports on every patient: it needs a token without patient restriction"
			e.Status = http.StatusForbidden
			return &e
		}
		return h(c)
	}
}
