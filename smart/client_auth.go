package smart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portico-health/portico/internal/clientaddr"
	"github.com/portico-health/portico/store"
)

// Client authentication methods (RFC 6749 §2.3, RFC 7523 §2.2, OpenID Connect Core §9).
const (
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthClientSecretBasic = "client_secret_basic"
	AuthNone              = "none"

	jwtBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxAssertionAhead  = 5 * time.Minute  // SMART Backend Services: exp at most five minutes ahead
	clockSkew          = 10 * time.Second // tolerated difference between the client's clock and ours
)

// authenticateClient finds and authenticates the client of a token-endpoint request: a JWT
// assertion (private_key_jwt), HTTP Basic (client_secret_basic), or for a public client only
// its client_id. Every failure is invalid_client (401) without saying which part was wrong.
func (s *Server) authenticateClient(r *http.Request, form url.Values) (Client, string, error) {
	_, _, hasBasic := r.BasicAuth()
	hasAssertion := form.Has("client_assertion") || form.Has("client_assertion_type")
	if hasBasic && hasAssertion || form.Has("client_secret") {
		return Client{}, "", withf(ErrInvalidRequest, "use exactly one client authentication method (client_secret_post is not supported)")
	}
	switch {
	case hasAssertion:
		if form.Get("client_assertion_type") != jwtBearerAssertion {
			return Client{}, "", withf(ErrInvalidClient, "client_assertion_type must be %s", jwtBearerAssertion)
		}
		c, err := s.verifyAssertion(r.Context(), form.Get("client_assertion"))
		if err != nil {
			return Client{}, "", err
		}
		if id := form.Get("client_id"); id != "" && id != c.ID {
			return Client{}, "", withf(ErrInvalidClient, "client_id does not match the assertion")
		}
		return c, AuthPrivateKeyJWT, s.limitClient(c.ID)
	case hasBasic:
		c, err := s.checkBasic(r)
		if err != nil {
			return Client{}, "", err
		}
		return c, AuthClientSecretBasic, s.limitClient(c.ID)
	case form.Get("client_id") != "":
		c, err := s.registry.Client(r.Context(), form.Get("client_id"))
		if err != nil || c.Disabled || c.Type != ClientPublic {
			return Client{}, "", wrap(ErrInvalidClient, err, "client authentication failed")
		}
		return c, AuthNone, nil
	}
	return Client{}, "", withf(ErrInvalidClient, "client authentication required")
}

func (s *Server) checkBasic(r *http.Request) (Client, error) {
	user, pass, _ := r.BasicAuth()
	// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return Client{}, withf(ErrInvalidClient, "client authentication failed")
	}
	c, err := s.registry.Client(r.Context(), id)
	if errors.Is(err, ErrUnknownClient) {
		c, err = Client{}, nil // checked against the dummy hash: as slow as a wrong secret
	}
	if err != nil {
		return Client{}, err
	}
	ok, legacy, err := s.registry.verifyClientSecret(r.Context(), c.SecretHash, secret)
	if err != nil {
		return Client{}, err
	}
	if !ok || c.SecretHash == "" || c.Disabled {
		s.log.Warn("client authentication failed", "method", AuthClientSecretBasic, "client_id", truncate(id),
			"addr", clientaddr.From(r))
		return Client{}, withf(ErrInvalidClient, "client authentication failed")
	}
	if legacy {
		if err := s.registry.rehashClientSecret(r.Context(), c.ID, c.SecretHash, secret); err != nil {
			s.log.Warn("client secret not rehashed; it still verifies", "client_id", c.ID, "error", err.Error())
		}
	}
	return c, nil
}

// verifyAssertion checks a private_key_jwt client assertion (RFC 7523 §3, SMART Backend
// Services authorization): RS384 or ES384, signed by a registered key, iss = sub = client_id,
// aud = the token URL, exp at most five minutes ahead, iat (when given) not in the future and
// at most five minutes before exp, and a jti never seen before.
func (s *Server) verifyAssertion(ctx context.Context, assertion string) (Client, error) {
	fail := func(cause error, desc string) (Client, error) {
		return Client{}, wrap(ErrInvalidClient, cause, desc)
	}
	if assertion == "" || len(assertion) > 16<<10 {
		return fail(nil, "client_assertion missing or too long")
	}
	var peek jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &peek); err != nil {
		return fail(err, "client_assertion is not a JWT")
	}
	if err := strictJWT(assertion); err != nil {
		return fail(err, "client_assertion rejected: "+err.Error())
	}
	c, err := s.registry.Client(ctx, peek.Issuer)
	if errors.Is(err, ErrUnknownClient) {
		return fail(err, "unknown client")
	}
	if err != nil {
		return Client{}, err
	}
	if c.Disabled {
		return fail(nil, "client disabled")
	}
	if len(c.JWKS) == 0 && c.JWKSURL == "" {
		return fail(nil, "client has no registered keys")
	}
	now := s.cfg.Now()
	var claims jwt.RegisteredClaims
	_, err = jwt.ParseWithClaims(assertion, &claims, s.assertionKeys(ctx, c),
		jwt.WithValidMethods([]string{"RS384", "ES384"}), jwt.WithStrictDecoding(),
		jwt.WithIssuer(c.ID), jwt.WithSubject(c.ID), jwt.WithAudience(s.TokenURL()),
		jwt.WithExpirationRequired(), jwt.WithLeeway(clockSkew), jwt.WithTimeFunc(s.cfg.Now))
	if err != nil {
		return fail(err, "client_assertion rejected")
	}
	if claims.ExpiresAt.Sub(now) > maxAssertionAhead+clockSkew {
		return fail(nil, "client_assertion exp is more than five minutes ahead")
	}
	// An assertion made for later, or to last longer than five minutes, is one whose replay
	// window the jti records would have to cover for longer than the rule allows.
	if iat := claims.IssuedAt; iat != nil {
		if iat.After(now.Add(clockSkew)) {
			return fail(nil, "client_assertion iat is in the future")
		}
		if claims.ExpiresAt.Sub(iat.Time) > maxAssertionAhead {
			return fail(nil, "client_assertion lives longer than five minutes (exp - iat)")
		}
	}
	if claims.ID == "" || len(claims.ID) > 256 {
		return fail(nil, "client_assertion needs a jti")
	}
	if err := s.recordJTI(ctx, c.ID, claims.ID, claims.ExpiresAt.Time); err != nil {
		if errors.Is(err, store.ErrVersionConflict) {
			return fail(nil, "client_assertion jti already used")
		}
		return Client{}, err
	}
	return c, nil
}

// strictJWT refuses what the JWT library lets through but the RFCs do not: a "crit" header
// (RFC 7515 §4.1.11: extensions the recipient must understand; Portico understands none), and
// exp, iat or nbf that are not JSON numbers (RFC 7519 §2, NumericDate: "exp": "1700000000"
// was accepted, blind attack round 8).
func strictJWT(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not three parts")
	}
	var header, claims map[string]json.RawMessage
	for _, p := range []struct {
		seg string
		out *map[string]json.RawMessage
	}{{parts[0], &header}, {parts[1], &claims}} {
		raw, err := base64.RawURLEncoding.DecodeString(p.seg)
		if err != nil {
			return errors.New("a part is not base64url")
		}
		if err := json.Unmarshal(raw, p.out); err != nil {
			return errors.New("a part is not a JSON object")
		}
	}
	if _, ok := header["crit"]; ok {
		return errors.New(`the header has "crit" extensions, which this server does not understand`)
	}
	for _, name := range []string{"exp", "iat", "nbf"} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		var n json.Number
		if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
			return fmt.Errorf("%s is not a number (NumericDate)", name)
		}
	}
	return nil
}

// assertionKeys returns the keyfunc for a client's assertion: its registered JWKS, or the set
// at its JWKS URL, which a jku header must name exactly. Keys are chosen by kid (when the
// header has one) and by type for the algorithm.
func (s *Server) assertionKeys(ctx context.Context, c Client) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if jku, ok := t.Header["jku"]; ok {
			if u, _ := jku.(string); u == "" || u != c.JWKSURL {
				return nil, errors.New("jku is not the registered JWKS URL")
			}
		}
		kid, _ := t.Header["kid"].(string)
		alg := t.Method.Alg()
		for _, refresh := range []bool{false, true} {
			var set JWKS
			var err error
			if c.JWKSURL != "" {
				set, err = s.jwks.get(ctx, c.JWKSURL, refresh)
			} else {
				set, err = ParseJWKS(c.JWKS)
				refresh = true
			}
			if err != nil {
				return nil, err
			}
			var keys []jwt.VerificationKey
			for _, k := range set.Keys {
				if kid != "" && k.Kid != kid {
					continue
				}
				pub, err := k.PublicKey()
				if err != nil || !keyFits(pub, alg) {
					continue
				}
				keys = append(keys, pub)
			}
			if len(keys) > 0 {
				return jwt.VerificationKeySet{Keys: keys}, nil
			}
			if refresh {
				break
			}
		}
		return nil, errors.New("no registered key fits the assertion")
	}
}

func keyFits(pub any, alg string) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return alg == "RS384"
	case *ecdsa.PublicKey:
		return alg == "ES384" && k.Curve == elliptic.P384()
	}
	return false
}

// recordJTI stores a used assertion id; store.ErrVersionConflict means it was used before.
// The records outlive their exp (an expired assertion fails on exp anyway); a sweep can delete
// records whose exp has passed.
func (s *Server) recordJTI(ctx context.Context, clientID, jti string, exp time.Time) error {
	sum := sha256.Sum256([]byte(clientID + "\x00" + jti))
	body, err := json.Marshal(map[string]any{"client_id": clientID, "exp": exp.Unix()})
	if err != nil {
		return err
	}
	return create(ctx, s.st, TypeJTI, hex.EncodeToString(sum[:]), body, nil)
}
