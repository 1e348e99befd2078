// Package reqlog carries, in a request's context, what its handlers tell the request's log
// line and metrics (server/logging.go) that the HTTP exchange does not show: who the token
// endpoint authenticated, whether a Bundle was a batch or a transaction, why a request failed.
// A request that presented an access token is attributed from the policy.Principal in its
// context instead.
package reqlog

import (
	"context"

	"github.com/portico-health/portico/policy"
)

// Entry is one request's attribution and outcome. Handlers fill it; the request log reads it
// once the handler has returned. Nothing here may be a secret, a query string or content.
type Entry struct {
	// ClientID, User (the fhirUser, "Patient/123"), Patient (the patient in context) and
	// TokenID (the jti) of a request without an access token: at the token endpoint, the
	// client it authenticated and the token it issued.
	ClientID, User, Patient, TokenID string

	// Interaction names the FHIR interaction when the route cannot tell: "batch" or
	// "transaction" for a Bundle posted to the base.
	Interaction string

	// Error is the cause of a 5xx with its identifiers redacted (internal/redact).
	Error string
}

type key struct{}

// With returns ctx carrying a new, empty Entry, and the Entry.
func With(ctx context.Context) (context.Context, *Entry) {
	e := &Entry{}
	return context.WithValue(ctx, key{}, e), e
}

// From is the Entry of ctx; nil outside a logged request (tests, background work).
func From(ctx context.Context) *Entry {
	e, _ := ctx.Value(key{}).(*Entry)
	return e
}

// SetPrincipal attributes the request of ctx to p: the token endpoint calls it with the
// principal of the token it issued.
func SetPrincipal(ctx context.Context, p policy.Principal) {
	if e := From(ctx); e != nil {
		e.ClientID, e.User, e.Patient, e.TokenID = p.ClientID, p.FHIRUser, p.Patient, p.TokenID
	}
}

// SetInteraction records the FHIR interaction of the request of ctx.
func SetInteraction(ctx context.Context, interaction string) {
	if e := From(ctx); e != nil {
		e.Interaction = interaction
	}
}

// SetError records the redacted cause of a 5xx.
func SetError(ctx context.Context, msg string) {
	if e := From(ctx); e != nil {
		e.Error = msg
	}
}
