// Package smart owns authorization: SMART App Launch 2.x scopes and the policy that decides
// what a token may do, the built-in OAuth 2.0 authorization server (signing keys and JWKS,
// discovery documents, the token, introspection and revocation endpoints), and the registry
// of apps and users kept in the store.
//
// The pieces: Scope parsing and Grant (scope.go, grant.go); Authorize, the pure policy that
// turns a Principal and a Request into a Decision with the Filter every read and search must
// carry (policy.go, filter.go); Error, the RFC 6749 error value and its writer (errors.go);
// KeySet, the RS256 signing keys with rotation (keys.go, jwk.go); Registry, apps and users
// kept as internal store records (registry.go, hash.go, records.go); and Server, the HTTP side:
// discovery (discovery.go), the token endpoint and its grants (token.go, token_user.go,
// client_auth.go, pkce.go, grant_records.go), the authorization pages (authorize.go,
// pages.go, patients.go, session.go), introspection and revocation, and Authenticate and
// Middleware for the resource server (access_token.go, middleware.go, token_cache.go). The
// background sweep of expired codes, assertions and grants is sweep.go; sign-in throttling,
// throttle.go. With an external OpenID Connect provider, OIDC verifies its access tokens
// instead of the built-in server (oidc.go, oidc_keys.go). docs/smart.md is the user's guide.
//
// Specifications: SMART App Launch 2.2 (hl7.org/fhir/smart-app-launch), RFC 6749 (OAuth 2.0),
// RFC 7523 (JWT client assertions), RFC 7662 (introspection), RFC 7009 (revocation),
// RFC 7638 (JWK thumbprints).
package smart
