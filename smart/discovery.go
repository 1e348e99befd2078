package smart

import (
	"encoding/json"
	"net/http"
)

// Capabilities Portico advertises (SMART 2.2 conformance.html#capabilities).
var Capabilities = []string{
	"launch-ehr", "launch-standalone", "authorize-post",
	"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
	"sso-openid-connect", "context-banner", "context-style",
	"context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
	"permission-offline", "permission-online", "permission-patient", "permission-user",
	"permission-v1", "permission-v2",
}

// ScopesSupported is scopes_supported in the discovery documents.
var ScopesSupported = []string{
	"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
	"offline_access", "online_access",
	"patient/*.cruds", "patient/*.rs", "patient/*.read", "patient/*.write",
	"user/*.cruds", "user/*.rs", "user/*.read", "user/*.write",
	"system/*.cruds", "system/*.rs", "system/*.read", "system/*.write",
}

// smartConfiguration answers GET {fhir}/.well-known/smart-configuration: always JSON,
// whatever the Accept header says (SMART 2.2 conformance.html#using-well-known).
func (s *Server) smartConfiguration(w http.ResponseWriter, r *http.Request) {
	writeDoc(w, map[string]any{
		"issuer":                                s.issuer,
		"jwks_uri":                              s.issuer + pathJWKS,
		"authorization_endpoint":                s.issuer + pathAuthorize,
		"token_endpoint":                        s.TokenURL(),
		"introspection_endpoint":                s.issuer + pathIntrospect,
		"revocation_endpoint":                   s.issuer + pathRevoke,
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", "refresh_token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt", "client_secret_basic", "none"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384"},
		"scopes_supported":         ScopesSupported,
		"response_types_supported": []string{"code"},
		"capabilities":             Capabilities,
	})
}

// openIDConfiguration answers GET {issuer}/.well-known/openid-configuration (OpenID Connect
// Discovery 1.0 §3).
func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	writeDoc(w, map[string]any{
		"issuer":                                           s.issuer,
		"jwks_uri":                                         s.issuer + pathJWKS,
		"authorization_endpoint":                           s.issuer + pathAuthorize,
		"token_endpoint":                                   s.TokenURL(),
		"introspection_endpoint":                           s.issuer + pathIntrospect,
		"revocation_endpoint":                              s.issuer + pathRevoke,
		"response_types_supported":                         []string{"code"},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            []string{"RS256"},
		"grant_types_supported":                            []string{"authorization_code", "client_credentials", "refresh_token"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            []string{"private_key_jwt", "client_secret_basic", "none"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384"},
		"scopes_supported":                                 ScopesSupported,
		"claims_supported":                                 []string{"iss", "sub", "aud", "exp", "iat", "fhirUser"},
	})
}

// serveJWKS answers GET {issuer}/jwks: the current and previous signing keys.
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	writeDoc(w, s.keys.JWKS(r.Context()))
}

// writeDoc sends a public JSON document. Like every answer under /fhir and /auth it is
// no-store: one rule for all, and these documents are small.
func writeDoc(w http.ResponseWriter, v any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
