package smart

import (
	"context"
	"errors"
	"github.com/portico-health/portico/policy"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portico-health/portico/internal/reqlog"
)

// authorizationCode is the authorization_code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636
// §4.6): the code is single-use, bound to its client and redirect_uri, and redeemable only
// with the verifier of its S256 challenge.
func (s *Server) authorizationCode(r *http.Request, form url.Values) (tokenResponse, error) {
	c, _, err := s.authenticateClient(r, form)
	if err != nil {
		return tokenResponse{}, err
	}
	g, err := s.redeem(r.Context(), TypeAuthCode, form.Get("code"), func(g grant) error {
		switch {
		case g.ClientID != c.ID:
			return errors.New("code issued to another client")
		case form.Get("redirect_uri") != g.RedirectURI:
			return errors.New("redirect_uri differs from the authorization request's")
		}
		return checkVerifier(form.Get("code_verifier"), g.Challenge)
	})
	if err != nil {
		return tokenResponse{}, s.grantError(err, "the code is invalid, expired, used, or not this client's")
	}
	return s.userTokens(r.Context(), c, g, nil)
}

// refreshToken is the refresh_token grant (RFC 6749 §6): the token is bound to its client
// and rotated (each use gives a new one; a used one presented again revokes the grant).
// scope may narrow, never widen.
func (s *Server) refreshToken(r *http.Request, form url.Values) (tokenResponse, error) {
	c, err := s.refreshClient(r, form)
	if err != nil {
		return tokenResponse{}, err
	}
	var narrow policy.Scopes
	if form.Get("scope") != "" {
		if narrow, _, err = policy.ParseScopes(form.Get("scope")); err != nil || len(narrow) == 0 {
			return tokenResponse{}, wrap(ErrInvalidScope, err, "malformed scope")
		}
	}
	g, err := s.redeem(r.Context(), TypeRefreshToken, form.Get("refresh_token"), func(g grant) error {
		if g.ClientID != c.ID {
			return errors.New("refresh token issued to another client")
		}
		had, _, _ := policy.ParseScopes(g.Scope)
		for _, want := range narrow {
			if !slices.ContainsFunc(had, func(h policy.Scope) bool { return policy.Covers(h, want) }) {
				return withf(ErrInvalidScope, "the scope asks for more than the refresh token holds")
			}
		}
		// Checked before the token is used up: a refresh refused while the user is disabled
		// left the app, once the user was enabled again, with a used token whose next
		// presentation revoked the grant (blind attack, round 9).
		if err := s.checkLive(r.Context(), c.ID, g.UserID, g.Patient); errors.Is(err, errNotLive) {
			return wrap(ErrInvalidGrant, err, "the user is no longer active")
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return tokenResponse{}, s.grantError(err, "the refresh token is invalid, expired, used, or not this client's")
	}
	return s.userTokens(r.Context(), c, g, narrow)
}

// refreshClient is the client of a refresh_token request. A public client has no credentials
// to present, and RFC 6749 §6 asks it for none: the SMART JS client sends no client_id when it
// refreshes. Without any client authentication, the refresh token itself names its client,
// which must be a public one; a confidential client must still authenticate (invalid_client,
// before its token is looked at any further, so that nobody without its credentials can use up
// or revoke its grant). With a client_id or credentials, authenticateClient decides as always.
func (s *Server) refreshClient(r *http.Request, form url.Values) (Client, error) {
	_, _, hasBasic := r.BasicAuth()
	if hasBasic || form.Has("client_id") || form.Has("client_assertion") || form.Has("client_assertion_type") || form.Has("client_secret") {
		c, _, err := s.authenticateClient(r, form)
		return c, err
	}
	id, found, err := s.refreshTokenClient(r.Context(), form.Get("refresh_token"))
	if err != nil {
		return Client{}, err
	}
	if !found { // redeem says the same for an unknown token with a client_id
		return Client{}, wrap(ErrInvalidGrant, errGrantUnknown, "the refresh token is invalid, expired, used, or not this client's")
	}
	c, err := s.registry.Client(r.Context(), id)
	if err != nil || c.Disabled || c.Type != ClientPublic {
		return Client{}, wrap(ErrInvalidClient, err, "client authentication required")
	}
	return c, nil
}

func (s *Server) grantError(err error, desc string) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, errGrantUnknown) || errors.Is(err, errGrantReused) || errors.Is(err, errGrantCheck) {
		return wrap(ErrInvalidGrant, err, desc)
	}
	return err
}

// userTokens issues the access token (and refresh and ID tokens when asked for) of a grant a
// user gave. scopes, when not nil, narrows the grant's scopes.
func (s *Server) userTokens(ctx context.Context, c Client, g grant, scopes policy.Scopes) (tokenResponse, error) {
	err := s.checkLive(ctx, c.ID, g.UserID, g.Patient)
	if errors.Is(err, errNotLive) {
		return tokenResponse{}, wrap(ErrInvalidGrant, err, "the user is no longer active")
	} else if err != nil {
		return tokenResponse{}, err
	}
	if scopes == nil {
		if scopes, _, err = policy.ParseScopes(g.Scope); err != nil {
			return tokenResponse{}, err
		}
	}
	ttl := s.cfg.AccessTokenTTL
	p := policy.Principal{Scopes: scopes, Patient: g.Patient, Encounter: g.Encounter, FHIRUser: g.FHIRUser,
		ClientID: c.ID, Subject: g.UserID, GrantID: g.GrantID}
	access, p, err := s.issueAccessToken(ctx, p, ttl)
	if err != nil {
		return tokenResponse{}, err
	}
	resp := tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second),
		Scope: scopes.String(), Patient: g.Patient, Encounter: g.Encounter}
	if g.Patient != "" {
		resp.NeedPatientBanner = &g.Standalone // an EHR shows its own banner; a standalone app must
		resp.SMARTStyleURL = s.issuer + pathStyle
	}
	if g.Encounter != "" {
		resp.FHIRContext = []fhirContext{{Reference: "Encounter/" + g.Encounter}}
	}
	if lifetime := refreshLifetime(scopes); lifetime > 0 {
		next := grant{GrantID: g.GrantID, ClientID: c.ID, UserID: g.UserID, FHIRUser: g.FHIRUser, Scope: scopes.String(),
			Patient: g.Patient, Encounter: g.Encounter, Standalone: g.Standalone, Expires: s.cfg.Now().Add(lifetime)}
		if resp.RefreshToken, err = s.putGrant(ctx, TypeRefreshToken, next); err != nil {
			return tokenResponse{}, err
		}
	}
	if scopes.Has(policy.KindOpenID) && (scopes.Has(policy.KindFHIRUser) || scopes.Has(policy.KindProfile)) {
		if resp.IDToken, err = s.idToken(ctx, c, g, p.ExpiresAt); err != nil {
			return tokenResponse{}, err
		}
	}
	s.log.Info("token issued", "client_id", c.ID, "grant_id", g.GrantID, "jti", p.TokenID)
	reqlog.SetPrincipal(ctx, p)
	return resp, nil
}

// refreshLifetime: offline_access gives a long-lived refresh token, online_access one that
// lasts a day (Portico has no browser session to tie it to); neither gives none.
func refreshLifetime(scopes policy.Scopes) time.Duration {
	switch {
	case scopes.Has(policy.KindOfflineAccess):
		return offlineRefresh
	case scopes.Has(policy.KindOnlineAccess):
		return onlineRefresh
	}
	return 0
}

// idClaims are the claims of an OpenID Connect ID token (Core §2) with SMART's fhirUser.
type idClaims struct {
	jwt.RegisteredClaims
	FHIRUser string `json:"fhirUser,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
}

// idToken signs an RS256 ID token for the app: aud is its client_id, fhirUser the absolute
// URL of the user's resource.
func (s *Server) idToken(ctx context.Context, c Client, g grant, exp time.Time) (string, error) {
	now := s.cfg.Now()
	claims := idClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: s.issuer, Subject: g.UserID, Audience: jwt.ClaimStrings{c.ID},
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now)},
		Nonce: g.Nonce,
	}
	if g.FHIRUser != "" {
		claims.FHIRUser = s.audience + "/" + g.FHIRUser
	}
	key := s.keys.current(ctx)
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = key.kid
	return t.SignedString(key.key)
}

// smartStyle answers GET /auth/smart-style.json (SMART 2.2 app-launch.html#styling).
func (s *Server) smartStyle(w http.ResponseWriter, r *http.Request) {
	writeDoc(w, map[string]any{
		"color_background": "#ffffff", "color_error": "#b00020", "color_highlight": "#0b5fa5",
		"color_modal_backdrop": "", "color_success": "#2e7d32", "color_text": "#1b1b1b",
		"dim_border_radius": "4px", "dim_font_size": "16px", "dim_spacing_size": "16px",
		"font_family_body": "system-ui, sans-serif", "font_family_heading": "system-ui, sans-serif",
	})
}
