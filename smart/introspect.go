package smart

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// introspect answers POST /auth/introspect (RFC 7662). The caller must authenticate as a
// registered confidential or backend client, or present a valid access token, so that tokens
// cannot be probed anonymously (§2.1). A token that is not a valid access token of Portico
// answers exactly {"active":false} (§2.2).
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.introspectionCaller(r, form); err != nil {
		s.logError(r, "introspection refused", err)
		writeError(w, err)
		return
	}
	p, err := s.VerifyAccessToken(r.Context(), form.Get("token"))
	if err != nil {
		if !errors.Is(err, ErrInvalidToken) {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, json.RawMessage(`{"active":false}`))
		return
	}
	resp := map[string]any{
		"active": true, "scope": p.Scopes.String(), "client_id": p.ClientID, "sub": p.Subject,
		"exp": p.ExpiresAt.Unix(), "iss": s.issuer, "aud": s.audience, "token_type": "Bearer", "jti": p.TokenID,
	}
	if p.Patient != "" {
		resp["patient"] = p.Patient
	}
	if p.Encounter != "" {
		resp["encounter"] = p.Encounter
	}
	if p.FHIRUser != "" {
		resp["fhirUser"] = p.FHIRUser
	}
	writeJSON(w, http.StatusOK, resp)
}

// introspectionCaller accepts a Bearer access token or client authentication other than a
// bare public client_id.
func (s *Server) introspectionCaller(r *http.Request, form map[string][]string) error {
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		_, err := s.Authenticate(r)
		return err
	}
	_, method, err := s.authenticateClient(r, form)
	if err != nil {
		return err
	}
	if method == AuthNone {
		return withf(ErrInvalidClient, "introspection needs client authentication")
	}
	return nil
}
