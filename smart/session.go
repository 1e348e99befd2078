package smart

import (
	"context"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// sessionTTL bounds the time between signing in and consenting.
const sessionTTL = 10 * time.Minute

const sessionTyp = "portico-login+jwt"

// sessionClaims bind a sign-in to one authorization request.
type sessionClaims struct {
	jwt.RegisteredClaims
	ClientID  string `json:"client_id"`
	Challenge string `json:"cc"`
}

func (s *Server) signSession(ctx context.Context, u User, ar authRequest) (string, error) {
	now := s.cfg.Now()
	c := sessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: s.issuer, Audience: jwt.ClaimStrings{s.issuer + pathAuthorize},
			Subject: u.ID, ExpiresAt: jwt.NewNumericDate(now.Add(sessionTTL)), IssuedAt: jwt.NewNumericDate(now)},
		ClientID: ar.client.ID, Challenge: ar.params.Get("code_challenge"),
	}
	key := s.keys.current(ctx)
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"], t.Header["typ"] = key.kid, sessionTyp
	return t.SignedString(key.key)
}

// verifySession checks a session from signSession against this request and returns its
// user, who must still be enabled.
func (s *Server) verifySession(ctx context.Context, token string, ar authRequest) (User, error) {
	var c sessionClaims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != sessionTyp {
			return nil, errors.New("not a session")
		}
		kid, _ := t.Header["kid"].(string)
		if pub, ok := s.keys.verificationKey(ctx, kid); ok {
			return pub, nil
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(s.issuer), jwt.WithAudience(s.issuer+pathAuthorize),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.cfg.Now))
	if err != nil {
		return User{}, err
	}
	if c.ClientID != ar.client.ID || c.Challenge != ar.params.Get("code_challenge") {
		return User{}, errors.New("session of another authorization request")
	}
	if err := s.checkLive(ctx, c.ClientID, c.Subject); err != nil {
		return User{}, err
	}
	return s.registry.UserByID(ctx, c.Subject)
}
