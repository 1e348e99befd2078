package smart

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/portico-health/portico/store"
)

// sessionTTL bounds the time between signing in and consenting.
const sessionTTL = 10 * time.Minute

const sessionTyp = "portico-login+jwt"

// TypeUsedSession records the sign-in sessions that reached a decision, by their jti, until
// they expire: a session works for one decision only.
const TypeUsedSession = "PorticoUsedSession"

// sessionClaims bind a sign-in to one authorization request: its client, and the digest of all
// its parameters (redirect_uri, state, code_challenge, scope, nonce, launch...), so that the
// session cannot be carried to another request, not even of the same client.
type sessionClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Request  string `json:"req"`
}

// session is a verified sign-in.
type session struct {
	id      string
	expires time.Time
	user    User
}

// requestDigest is the SHA-256 of an authorization request's parameters, in a canonical order.
func requestDigest(params url.Values) string {
	sum := sha256.Sum256([]byte(params.Encode())) // Encode sorts by key
	return hex.EncodeToString(sum[:])
}

func (s *Server) signSession(ctx context.Context, u User, ar authRequest) (string, error) {
	now := s.cfg.Now()
	c := sessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: s.issuer, Audience: jwt.ClaimStrings{s.issuer + pathAuthorize},
			Subject: u.ID, ExpiresAt: jwt.NewNumericDate(now.Add(sessionTTL)), IssuedAt: jwt.NewNumericDate(now),
			ID: uuid.NewString()},
		ClientID: ar.client.ID, Request: requestDigest(ar.params),
	}
	key := s.keys.current(ctx)
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"], t.Header["typ"] = key.kid, sessionTyp
	return t.SignedString(key.key)
}

// verifySession checks a session from signSession against this request and returns it with
// its user, who (like the client) must still be enabled.
func (s *Server) verifySession(ctx context.Context, token string, ar authRequest) (session, error) {
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
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(s.issuer), jwt.WithAudience(s.issuer+pathAuthorize), jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.cfg.Now))
	if err != nil {
		return session{}, err
	}
	if c.ID == "" || c.ClientID != ar.client.ID || c.Request != requestDigest(ar.params) {
		return session{}, errors.New("session of another authorization request")
	}
	if err := s.checkLive(ctx, c.ClientID, c.Subject, ""); err != nil {
		return session{}, err
	}
	u, err := s.registry.UserByID(ctx, c.Subject)
	if err != nil {
		return session{}, err
	}
	return session{id: c.ID, expires: c.ExpiresAt.Time, user: u}, nil
}

// useSession marks a session used, exactly once across every Portico on the store.
func (s *Server) useSession(ctx context.Context, sess session) error {
	body, err := json.Marshal(map[string]any{"exp": sess.expires.Unix()})
	if err != nil {
		return err
	}
	err = create(ctx, s.st, TypeUsedSession, sess.id, body, nil)
	if errors.Is(err, store.ErrVersionConflict) {
		return errors.New("session already used")
	}
	return err
}

// sameOrigin refuses a form post that a browser says comes from another site. Sec-Fetch-Site,
// which browsers set and pages cannot, decides when present: same-origin (or none: typed by
// the user). Without it, Origin, when present, must be the issuer's. A request with neither
// (not a current browser) is let through: the session and its binding still hold.
func (s *Server) sameOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "same-origin", "none":
		return nil
	case "":
	default:
		return fmt.Errorf("Sec-Fetch-Site: %s", truncate(site))
	}
	if o := r.Header.Get("Origin"); o != "" && o != s.origin {
		return fmt.Errorf("Origin %s", truncate(o))
	}
	return nil
}
