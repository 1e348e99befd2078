package smart

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portico-health/portico/store"
)

// Authorization codes and refresh tokens are random strings given to the client; the store
// keeps only their SHA-256 (the record id), so a copy of the database redeems nothing.
const (
	TypeAuthCode     = "PorticoAuthCode"
	TypeRefreshToken = "PorticoRefreshToken"
	TypeRevokedGrant = "PorticoRevokedGrant" // a grant (code and the refresh tokens it led to) revoked after a reuse

	authCodeTTL     = time.Minute
	onlineRefresh   = 24 * time.Hour
	offlineRefresh  = 90 * 24 * time.Hour
	refreshTokenLen = 32
)

// grant is what an authorization code or refresh token stands for.
type grant struct {
	GrantID     string    `json:"grant_id"` // shared by a code and every refresh token that follows from it
	ClientID    string    `json:"client_id"`
	UserID      string    `json:"user_id"`
	FHIRUser    string    `json:"fhir_user,omitempty"`
	Scope       string    `json:"scope"`
	Patient     string    `json:"patient,omitempty"`
	Encounter   string    `json:"encounter,omitempty"`
	Standalone  bool      `json:"standalone,omitempty"` // the user picked the patient: show a banner
	Nonce       string    `json:"nonce,omitempty"`
	RedirectURI string    `json:"redirect_uri,omitempty"` // codes only
	Challenge   string    `json:"code_challenge,omitempty"`
	Expires     time.Time `json:"expires"`
	Used        bool      `json:"used,omitempty"`
}

func randomToken() (string, error) {
	buf := make([]byte, refreshTokenLen)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return b64url.EncodeToString(buf), nil
}

func tokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// putGrant stores a new code or refresh token for g and returns the token.
func (s *Server) putGrant(ctx context.Context, typ string, g grant) (string, error) {
	tok, err := randomToken()
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(g)
	if err != nil {
		return "", err
	}
	if err := create(ctx, s.st, typ, tokenID(tok), body, nil); err != nil {
		return "", fmt.Errorf("smart: store %s: %w", typ, err)
	}
	return tok, nil
}

var (
	errGrantUnknown = errors.New("unknown or expired")
	errGrantReused  = errors.New("already used")
	errGrantCheck   = errors.New("grant check failed")
)

// redeem marks a code or refresh token used, exactly once even under concurrent requests,
// and returns its grant. A second redemption revokes the whole grant (RFC 6749 §4.1.2 for
// codes, OAuth 2.0 Security BCP §4.14.2 for rotated refresh tokens) and fails. check runs
// before the token is used up: a request that fails it (another client, a wrong verifier)
// leaves the token to its owner.
func (s *Server) redeem(ctx context.Context, typ, token string, check func(grant) error) (grant, error) {
	if token == "" || len(token) > 512 {
		return grant{}, errGrantUnknown
	}
	id := tokenID(token)
	rec, err := s.st.Read(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		return grant{}, errGrantUnknown
	}
	if err != nil {
		return grant{}, err
	}
	var g grant
	if err := json.Unmarshal(rec.Body, &g); err != nil {
		return grant{}, err
	}
	if g.Used {
		return grant{}, errors.Join(errGrantReused, s.revokeGrant(ctx, g))
	}
	if revoked, err := s.grantRevoked(ctx, g.GrantID); err != nil {
		return grant{}, err
	} else if revoked {
		return grant{}, errGrantUnknown
	}
	if !s.cfg.Now().Before(g.Expires) {
		return grant{}, errGrantUnknown
	}
	if err := check(g); err != nil {
		return grant{}, fmt.Errorf("%w: %w", errGrantCheck, err)
	}
	g.Used = true
	body, err := json.Marshal(g)
	if err != nil {
		return grant{}, err
	}
	err = s.st.Write(ctx, store.Write{Op: store.OpUpdate, Type: typ, ID: id, Version: rec.Version + 1,
		LastUpdated: time.Now().UTC(), Body: body})
	if errors.Is(err, store.ErrVersionConflict) {
		return grant{}, errors.Join(errGrantReused, s.revokeGrant(ctx, g))
	}
	if err != nil {
		return grant{}, err
	}
	return g, nil
}

func (s *Server) revokeGrant(ctx context.Context, g grant) error {
	defer s.tokens.reset() // tokens of the grant must fail at once in this process
	body, _ := json.Marshal(map[string]any{"client_id": g.ClientID})
	err := create(ctx, s.st, TypeRevokedGrant, g.GrantID, body, nil)
	if errors.Is(err, store.ErrVersionConflict) {
		return nil
	}
	return err
}

func (s *Server) grantRevoked(ctx context.Context, grantID string) (bool, error) {
	if grantID == "" {
		return false, nil
	}
	_, err := s.st.Read(ctx, TypeRevokedGrant, grantID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// refreshTokenClient is the client a refresh token was issued to, without using the token
// up; found is false for a token that was never issued. Whether it is still good (unused,
// unexpired, its grant not revoked) is for redeem to say.
func (s *Server) refreshTokenClient(ctx context.Context, token string) (clientID string, found bool, err error) {
	if token == "" || len(token) > 512 {
		return "", false, nil
	}
	rec, err := s.st.Read(ctx, TypeRefreshToken, tokenID(token))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	var g grant
	if err := json.Unmarshal(rec.Body, &g); err != nil {
		return "", false, err
	}
	return g.ClientID, true, nil
}

// revokeRefreshToken revokes the grant behind a refresh token of client clientID. found is
// false when the token is not a refresh token; a refresh token of another client is an error.
func (s *Server) revokeRefreshToken(ctx context.Context, token, clientID string) (found bool, err error) {
	if token == "" || len(token) > 512 {
		return false, nil
	}
	rec, err := s.st.Read(ctx, TypeRefreshToken, tokenID(token))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var g grant
	if err := json.Unmarshal(rec.Body, &g); err != nil {
		return false, err
	}
	if g.ClientID != clientID {
		return true, withf(ErrUnauthorizedClient, "the token was issued to another client")
	}
	return true, s.revokeGrant(ctx, g)
}
