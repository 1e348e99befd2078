package smart

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/portico-health/portico/store"
)

// revoke answers POST /auth/revoke (RFC 7009). The client authenticates as at the token
// endpoint (a public client by its client_id); a token it was issued is revoked at once for
// every Portico sharing the store. Revoking a refresh token revokes its whole grant: the
// refresh token, those rotated from it, and the access tokens issued under it. Unknown, invalid
// or already revoked tokens answer 200 too (§2.2), and so does a valid token of another
// client, which is not revoked: §2.1 would refuse it, but a refusal told any client which
// strings were live tokens of others, where introspection tells nothing (blind attack, round 8).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	c, _, err := s.authenticateClient(r, form)
	if err != nil {
		s.logError(r, "revocation refused", err)
		writeError(w, err)
		return
	}
	p, err := s.VerifyAccessToken(r.Context(), form.Get("token"))
	switch {
	case errors.Is(err, ErrInvalidToken):
		if _, err := s.revokeRefreshToken(r.Context(), form.Get("token"), c.ID); errors.Is(err, ErrUnauthorizedClient) {
			s.logError(r, "revocation of another client's refresh token ignored", err)
		} else if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	case err != nil:
		writeError(w, err)
		return
	case p.ClientID != c.ID:
		s.logError(r, "revocation of another client's token ignored", withf(ErrUnauthorizedClient, "the token was issued to another client"))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	body, err := json.Marshal(map[string]any{"client_id": p.ClientID, "exp": p.ExpiresAt.Unix()})
	if err == nil {
		err = create(r.Context(), s.st, TypeRevoked, p.TokenID, body, nil)
	}
	if err != nil && !errors.Is(err, store.ErrVersionConflict) {
		writeError(w, err)
		return
	}
	s.tokens.reset()
	s.log.Info("token revoked", "client_id", c.ID, "jti", p.TokenID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
