package policy

import (
	"context"
	"strings"
	"time"
)

// Principal is who is calling, as an access token describes them: the scopes granted, the
// launch context, the user and the client. The authentication middleware (package smart) puts
// it in the request's context; the guard reads it there. A server-side service (a write hook)
// is a Principal too, with Service set and system/ scopes.
type Principal struct {
	Scopes    Scopes
	Patient   string // launch patient id ("123"), for patient/ scopes
	Encounter string // launch encounter id
	FHIRUser  string // the user's resource, "Practitioner/7", "Patient/123"; "" for a backend service
	ClientID  string
	Subject   string    // the token's sub: a user id, or the client id for a backend service
	TokenID   string    // jti of the access token
	ExpiresAt time.Time // when the token stops being valid

	// GrantID is the user's authorization the token came from ("" for client_credentials):
	// revoking it revokes the token.
	GrantID string

	// Service names a server-side service (e.g. "triage") acting on its own behalf; "" for a
	// caller that presented a token.
	Service string

	// ReachIDs, when ReachResolved, are the patients a Person or a practitioner reaches
	// (ReachWhere), found once for the request by the guard: the policy then confines the
	// user's scopes to these ids instead of the clauses that find them, and every search and
	// check is by id, at the cost of the user's own patients.
	ReachIDs      []string
	ReachResolved bool
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the Principal an authentication middleware put in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// fhirUserRef splits FHIRUser into type and id.
func (p Principal) fhirUserRef() (typ, id string) {
	typ, id, ok := strings.Cut(p.FHIRUser, "/")
	if !ok {
		return "", ""
	}
	return typ, id
}
