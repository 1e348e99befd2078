package smart

import (
	"context"
	"errors"
	"fmt"
	"github.com/portico-health/portico/policy"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/portico-health/portico/store"
)

// accessClaims are the claims of Portico's access tokens (RFC 9068 JWT access tokens, with
// SMART's launch context).
type accessClaims struct {
	jwt.RegisteredClaims
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	Patient   string `json:"patient,omitempty"`
	Encounter string `json:"encounter,omitempty"`
	FHIRUser  string `json:"fhirUser,omitempty"`
	GrantID   string `json:"grant_id,omitempty"` // the authorization this token came from, when a user gave one
}

const accessTokenTyp = "at+jwt"

// issueAccessToken signs an RS256 access token for p, valid for ttl.
func (s *Server) issueAccessToken(ctx context.Context, p policy.Principal, ttl time.Duration) (string, policy.Principal, error) {
	now := s.cfg.Now().Truncate(time.Second)
	p.TokenID = uuid.NewString()
	p.ExpiresAt = now.Add(ttl)
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.issuer, Subject: p.Subject, Audience: jwt.ClaimStrings{s.audience},
			ExpiresAt: jwt.NewNumericDate(p.ExpiresAt), IssuedAt: jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now), ID: p.TokenID,
		},
		ClientID: p.ClientID, Scope: p.Scopes.String(),
		Patient: p.Patient, Encounter: p.Encounter, FHIRUser: p.FHIRUser, GrantID: p.GrantID,
	}
	key := s.keys.current(ctx)
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = key.kid
	t.Header["typ"] = accessTokenTyp
	signed, err := t.SignedString(key.key)
	if err != nil {
		return "", policy.Principal{}, fmt.Errorf("smart: sign access token: %w", err)
	}
	return signed, p, nil
}

// Authenticate returns who is calling, from the request's bearer token (RFC 6750 §2.1).
// ErrNoToken when there is none (HTTP 401, bare challenge); an error matching ErrInvalidToken
// when it is malformed, not signed by Portico with RS256, for another issuer or audience,
// expired, revoked, or its client or user is disabled (HTTP 401 with Challenge(err)). Other errors
// are the store failing (HTTP 500/503). Authorization is Authorize's job, not this one's.
func (s *Server) Authenticate(r *http.Request) (policy.Principal, error) {
	token, err := bearerToken(r)
	if err != nil {
		return policy.Principal{}, err
	}
	return s.VerifyAccessToken(r.Context(), token)
}

// bearerToken is the request's bearer token: ErrNoToken without an Authorization header, an
// ErrInvalidToken for one of another form.
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoToken
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", withf(ErrInvalidToken, "Authorization must be: Bearer <token>")
	}
	return strings.TrimSpace(token), nil
}

// VerifyAccessToken checks an access token as Authenticate does.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (policy.Principal, error) {
	invalid := func(cause error) (policy.Principal, error) {
		return policy.Principal{}, wrap(ErrInvalidToken, cause, "the access token is invalid, expired or revoked")
	}
	if len(token) > 16<<10 {
		return invalid(errors.New("token too long"))
	}
	now := s.cfg.Now()
	if p, ok := s.tokens.get(token, now); ok {
		return p, nil
	}
	p, err := s.verifyAccessToken(ctx, token)
	if err == nil {
		s.tokens.put(token, p, now)
	}
	return p, err
}

// verifyAccessToken checks the signature and claims of an access token and, in the store,
// that neither it nor its grant was revoked and that its client and user are still enabled.
func (s *Server) verifyAccessToken(ctx context.Context, token string) (policy.Principal, error) {
	invalid := func(cause error) (policy.Principal, error) {
		return policy.Principal{}, wrap(ErrInvalidToken, cause, "the access token is invalid, expired or revoked")
	}
	var claims accessClaims
	t, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != accessTokenTyp {
			return nil, errors.New("not an access token")
		}
		kid, _ := t.Header["kid"].(string)
		pub, ok := s.keys.verificationKey(ctx, kid)
		if !ok {
			return nil, errors.New("unknown kid")
		}
		return pub, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(s.issuer), jwt.WithAudience(s.audience), jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(clockSkew), jwt.WithTimeFunc(s.cfg.Now))
	if err != nil || !t.Valid {
		return invalid(err)
	}
	if claims.ID == "" {
		return invalid(errors.New("no jti"))
	}
	scopes, _, err := policy.ParseScopes(claims.Scope)
	if err != nil {
		return invalid(err)
	}
	if revoked, err := s.revoked(ctx, claims.ID); err != nil {
		return policy.Principal{}, err
	} else if revoked {
		return invalid(errors.New("revoked"))
	}
	if revoked, err := s.grantRevoked(ctx, claims.GrantID); err != nil {
		return policy.Principal{}, err
	} else if revoked {
		return invalid(errors.New("grant revoked"))
	}
	if err := s.checkLive(ctx, claims.ClientID, tokenUser(claims), claims.Patient); errors.Is(err, errNotLive) {
		return invalid(err)
	} else if err != nil {
		return policy.Principal{}, err
	}
	return policy.Principal{
		Scopes: scopes, Patient: claims.Patient, Encounter: claims.Encounter, FHIRUser: claims.FHIRUser,
		ClientID: claims.ClientID, Subject: claims.Subject, TokenID: claims.ID, ExpiresAt: claims.ExpiresAt.Time,
		GrantID: claims.GrantID,
	}, nil
}

// revoked reports whether a token id was revoked.
func (s *Server) revoked(ctx context.Context, jti string) (bool, error) {
	_, err := s.st.Read(ctx, TypeRevoked, jti)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}
