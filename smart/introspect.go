package smart

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// inactive is the whole answer about a token that is not valid, or not the caller's to know
// about (RFC 7662 §2.2, §4).
var inactive = json.RawMessage(`{"active":false}`)

// introspect answers POST /auth/introspect (RFC 7662). The caller must authenticate as a
// client: with its credentials (a secret or an assertion; a bare public client_id is not
// enough), or with a valid access token, whose client is then the caller, so that tokens
// cannot be probed anonymously (§2.1). Only the token's own client and registered resource
// servers learn about a token (§4: what a token says about its user is not for other clients);
// anyone else, like a token that is not a valid access token of Portico, gets exactly
// {"active":false} (§2.2).
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	caller, user, err := s.introspectionCaller(r, form)
	if err != nil {
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
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	if p.ClientID != caller.ID && caller.Type != ClientResourceServer {
		s.log.Info("introspection of another client's token answered inactive", "client_id", caller.ID, "token_client_id", p.ClientID)
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	// A caller known by its access token is one user of the app: it learns about its own
	// tokens only (one patient's token read another patient's id through the same public
	// app, blind attack round 9).
	if user != nil && p.Subject != *user {
		s.log.Info("introspection of another user's token answered inactive", "client_id", caller.ID)
		writeJSON(w, http.StatusOK, inactive)
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

// introspectionCaller is the client asking: the client of a Bearer access token (and then
// user, that token's subject), or the client that authenticated with its credentials (not a
// bare public client_id; user nil).
func (s *Server) introspectionCaller(r *http.Request, form map[string][]string) (c Client, user *string, err error) {
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		p, err := s.Authenticate(r)
		if err != nil {
			return Client{}, nil, err
		}
		// A token's client is never a resource server: they get no tokens.
		return Client{ID: p.ClientID}, &p.Subject, s.limitClient(p.ClientID)
	}
	c, method, err := s.authenticateClient(r, form)
	if err != nil {
		return Client{}, nil, err
	}
	if method == AuthNone {
		return Client{}, nil, withf(ErrInvalidClient, "introspection needs client authentication")
	}
	return c, nil, nil
}
