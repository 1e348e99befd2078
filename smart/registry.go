package smart

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/portico-health/portico/policy"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portico-health/portico/store"
)

// ClientType is how an app authenticates (SMART 2.2 client-public, client-confidential-*,
// Backend Services).
type ClientType string

const (
	ClientPublic       ClientType = "public"       // browser or native app: PKCE, no secret
	ClientConfidential ClientType = "confidential" // server-side app: client_secret_basic, or private_key_jwt with a JWKS
	ClientBackend      ClientType = "backend"      // Backend Services: private_key_jwt, client_credentials, system/ scopes

	// ClientResourceServer is an API that checks Portico's tokens at /auth/introspect: a
	// secret or keys, and nothing else (no redirect URIs, no scopes, no tokens of its own).
	ClientResourceServer ClientType = "resource-server"
)

// Client is a registered app.
type Client struct {
	ID           string          `json:"client_id"`
	Name         string          `json:"name"`
	Type         ClientType      `json:"type"`
	RedirectURIs []string        `json:"redirect_uris,omitempty"`
	JWKS         json.RawMessage `json:"jwks,omitempty"`     // registered public keys (private_key_jwt)
	JWKSURL      string          `json:"jwks_url,omitempty"` // or where to fetch them; a jku header must equal it
	Scope        string          `json:"scope"`              // the most the app may be granted
	SecretHash   string          `json:"secret_hash,omitempty"`
	Disabled     bool            `json:"disabled,omitempty"`
	Created      time.Time       `json:"created"`
}

// User is someone who can sign in at the authorize endpoint.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	PasswordHash string    `json:"password_hash"`
	FHIRUser     string    `json:"fhir_user"` // Patient/123, Practitioner/7, RelatedPerson/9
	Disabled     bool      `json:"disabled,omitempty"`
	Created      time.Time `json:"created"`
}

// Registry errors.
var (
	ErrUnknownClient = errors.New("smart: unknown client")
	ErrUnknownUser   = errors.New("smart: unknown user")
	ErrUsernameTaken = errors.New("smart: username taken")
	ErrBadPassword   = errors.New("smart: wrong username or password")
)

// Registry keeps apps and users in the store as internal records (PorticoClient/{client_id},
// PorticoUser/{uuid} with a "username" token index entry), so the admin command can change
// them while a server runs and every backend holds them.
type Registry struct {
	st     store.Store
	hashes *hashGate
}

// NewRegistry returns the registry kept in st, checking DefaultPasswordHashes passwords at once.
func NewRegistry(st store.Store) *Registry { return newRegistry(st, 0) }

func newRegistry(st store.Store, hashes int) *Registry {
	return &Registry{st: st, hashes: newHashGate(hashes)}
}

// verifySecret checks a password or client secret against its hash (the dummy hash for "")
// in a slot of the hash gate: ErrBusy when none frees up in time.
func (r *Registry) verifySecret(ctx context.Context, hash, secret string) (bool, error) {
	var ok bool
	err := r.hashes.do(ctx, func() {
		if hash == "" {
			verifySecretHash(dummyHash(), secret)
			return
		}
		ok = verifySecretHash(hash, secret)
	})
	return ok, err
}

// Validate checks a client registration before it is stored.
func (c Client) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Name) == "" {
		errs = append(errs, errors.New("name: required"))
	}
	switch c.Type {
	case ClientPublic, ClientConfidential:
		if len(c.RedirectURIs) == 0 {
			errs = append(errs, fmt.Errorf("redirect-uri: a %s app needs at least one", c.Type))
		}
	case ClientBackend:
		if len(c.JWKS) == 0 && c.JWKSURL == "" {
			errs = append(errs, errors.New("a backend app needs --jwks-url or --jwks-file"))
		}
	case ClientResourceServer:
		if len(c.RedirectURIs) > 0 || c.Scope != "" {
			errs = append(errs, errors.New("a resource server has no --redirect-uri and no --scope: it only introspects tokens"))
		}
	default:
		errs = append(errs, fmt.Errorf("type: %q is not public, confidential, backend or resource-server", c.Type))
	}
	for _, u := range c.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.JWKS) > 0 && c.JWKSURL != "" {
		errs = append(errs, errors.New("give --jwks-url or --jwks-file, not both"))
	}
	if len(c.JWKS) > 0 {
		if _, err := ParseJWKS(c.JWKS); err != nil {
			errs = append(errs, err)
		}
	}
	if c.JWKSURL != "" {
		if p, err := url.Parse(c.JWKSURL); err != nil || p.Scheme != "https" && p.Scheme != "http" || p.Host == "" {
			errs = append(errs, fmt.Errorf("jwks-url: %q is not an absolute http(s) URL", c.JWKSURL))
		}
	}
	scopes, _, err := policy.ParseScopes(c.Scope)
	if err != nil {
		errs = append(errs, err)
	}
	if c.Type == ClientBackend {
		for _, s := range scopes {
			if s.Kind != policy.KindResource || s.Context != policy.ContextSystem {
				errs = append(errs, fmt.Errorf("scope: a backend app can only hold system/ scopes, not %q", s))
			}
		}
	}
	return errors.Join(errs...)
}

// CreateClient registers c with a new client_id. For a confidential app without keys it also
// makes a client secret, returned once and stored only as a hash.
func (r *Registry) CreateClient(ctx context.Context, c Client) (Client, string, error) {
	if c.Scope == "" {
		c.Scope = defaultScope(c.Type)
	}
	if err := c.Validate(); err != nil {
		return Client{}, "", err
	}
	c.ID = uuid.NewString()
	c.Created = time.Now().UTC().Truncate(time.Second)
	c.Disabled = false
	var secret string
	if (c.Type == ClientConfidential || c.Type == ClientResourceServer) && len(c.JWKS) == 0 && c.JWKSURL == "" {
		var err error
		if secret, c.SecretHash, err = newSecret(); err != nil {
			return Client{}, "", err
		}
	}
	body, err := json.Marshal(c)
	if err != nil {
		return Client{}, "", err
	}
	if err := create(ctx, r.st, TypeClient, c.ID, body, nil); err != nil {
		return Client{}, "", fmt.Errorf("smart: store client: %w", err)
	}
	return c, secret, nil
}

func defaultScope(t ClientType) string {
	switch t {
	case ClientBackend:
		return "system/*.rs"
	case ClientResourceServer:
		return ""
	}
	return "openid fhirUser launch launch/patient offline_access online_access patient/*.rs user/*.rs"
}

func newSecret() (secret, hash string, err error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", "", err
	}
	secret = b64url.EncodeToString(buf)
	return secret, hashClientSecret(secret), nil
}

// verifyClientSecret checks a client secret against the client's hash: a SHA-256 one at
// once; an argon2id one of an earlier version in a slot of the hash gate (ErrBusy when none
// frees up), rehashed once it matched (legacy reports that). An empty hash (an unknown
// client) is compared with a dummy, as long as a wrong secret takes.
func (r *Registry) verifyClientSecret(ctx context.Context, hash, secret string) (ok, legacy bool, err error) {
	switch {
	case hash == "":
		verifyClientSecretHash(hashClientSecret(""), secret)
		return false, false, nil
	case strings.HasPrefix(hash, clientSecretPrefix):
		return verifyClientSecretHash(hash, secret), false, nil
	}
	ok, err = r.verifySecret(ctx, hash, secret)
	return ok, ok, err
}

// rehashClientSecret replaces a client's argon2id secret hash by the SHA-256 of the secret
// that matched it, unless the secret changed meanwhile.
func (r *Registry) rehashClientSecret(ctx context.Context, id, oldHash, secret string) error {
	return r.updateClient(ctx, id, func(c *Client) error {
		if c.SecretHash == oldHash {
			c.SecretHash = hashClientSecret(secret)
		}
		return nil
	})
}

// Client returns a registered app (disabled ones too: check Disabled). ErrUnknownClient when
// there is none.
func (r *Registry) Client(ctx context.Context, id string) (Client, error) {
	if id == "" || len(id) > 64 {
		return Client{}, ErrUnknownClient
	}
	rec, err := r.st.Read(ctx, TypeClient, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		return Client{}, ErrUnknownClient
	}
	if err != nil {
		return Client{}, err
	}
	var c Client
	if err := json.Unmarshal(rec.Body, &c); err != nil {
		return Client{}, fmt.Errorf("smart: client %s: %w", id, err)
	}
	return c, nil
}

// Clients lists every registered app.
func (r *Registry) Clients(ctx context.Context) ([]Client, error) {
	recs, err := list(ctx, r.st, TypeClient)
	if err != nil {
		return nil, err
	}
	out := make([]Client, 0, len(recs))
	for _, rec := range recs {
		var c Client
		if err := json.Unmarshal(rec.Body, &c); err != nil {
			return nil, fmt.Errorf("smart: client %s: %w", rec.ID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// updateClient applies change to the stored client.
func (r *Registry) updateClient(ctx context.Context, id string, change func(*Client) error) error {
	err := update(ctx, r.st, TypeClient, id, nil, func(body []byte) ([]byte, error) {
		var c Client
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, err
		}
		if err := change(&c); err != nil {
			return nil, err
		}
		return json.Marshal(c)
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnknownClient
	}
	return err
}

// DisableClient stops an app: its client authentication fails and its tokens stop verifying.
func (r *Registry) DisableClient(ctx context.Context, id string) error {
	return r.updateClient(ctx, id, func(c *Client) error { c.Disabled = true; return nil })
}

// EnableClient lets a disabled app act again: its tokens that have not expired verify again.
func (r *Registry) EnableClient(ctx context.Context, id string) error {
	return r.updateClient(ctx, id, func(c *Client) error { c.Disabled = false; return nil })
}

// DeleteClient removes an app with every version of its record (its secret hash and keys
// included). Its client_id is unknown from then on, so its tokens, codes and refresh tokens
// stop as a disabled app's do.
func (r *Registry) DeleteClient(ctx context.Context, id string) error {
	if _, err := r.Client(ctx, id); err != nil {
		return err
	}
	return r.st.Purge(ctx, TypeClient, id)
}

// RotateSecret gives a confidential app a new secret; the old one stops working at once.
func (r *Registry) RotateSecret(ctx context.Context, id string) (string, error) {
	secret, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	err = r.updateClient(ctx, id, func(c *Client) error {
		if c.Type != ClientConfidential && c.Type != ClientResourceServer || c.SecretHash == "" {
			return fmt.Errorf("smart: client %s has no secret (type %s)", id, c.Type)
		}
		c.SecretHash = hash
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// normalUsername is the form usernames are compared in.
func normalUsername(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

func userIndex(u User) []store.IndexEntry {
	return []store.IndexEntry{{Param: "username", Kind: store.KindToken, Code: normalUsername(u.Username)}}
}

// CreateUser adds a user; ErrUsernameTaken when the username (case-insensitive) exists.
func (r *Registry) CreateUser(ctx context.Context, username, password, fhirUser string) (User, error) {
	var errs []error
	if normalUsername(username) == "" {
		errs = append(errs, errors.New("username: required"))
	}
	if len(password) < 8 {
		errs = append(errs, errors.New("password: at least 8 characters"))
	}
	typ, id, ok := strings.Cut(fhirUser, "/")
	if !ok || id == "" || !slices.Contains([]string{"Patient", "Practitioner", "PractitionerRole", "RelatedPerson", "Person"}, typ) {
		errs = append(errs, fmt.Errorf("fhir-user: %q is not Patient/id, Practitioner/id, PractitionerRole/id, RelatedPerson/id or Person/id", fhirUser))
	}
	if err := errors.Join(errs...); err != nil {
		return User{}, err
	}
	hash, err := HashSecret(password)
	if err != nil {
		return User{}, err
	}
	u := User{ID: uuid.NewString(), Username: strings.TrimSpace(username), PasswordHash: hash, FHIRUser: fhirUser,
		Created: time.Now().UTC().Truncate(time.Second)}
	body, err := json.Marshal(u)
	if err != nil {
		return User{}, err
	}
	q := store.Query{Types: []string{TypeUser}, Where: []store.Clause{tokenClause("username", normalUsername(username))}, Count: 1}
	err = r.st.Write(ctx, store.Write{Op: store.OpCreate, Type: TypeUser, ID: u.ID, Version: 1,
		LastUpdated: time.Now().UTC(), Body: body, Index: userIndex(u), IfNoneExist: &q})
	if errors.Is(err, store.ErrExists) {
		return User{}, fmt.Errorf("%w: %q", ErrUsernameTaken, username)
	}
	if err != nil {
		return User{}, fmt.Errorf("smart: store user: %w", err)
	}
	return u, nil
}

// UserByUsername finds a user (disabled ones too). ErrUnknownUser when there is none.
func (r *Registry) UserByUsername(ctx context.Context, username string) (User, error) {
	recs, err := list(ctx, r.st, TypeUser, tokenClause("username", normalUsername(username)))
	if err != nil {
		return User{}, err
	}
	if len(recs) == 0 {
		return User{}, ErrUnknownUser
	}
	var u User
	if err := json.Unmarshal(recs[0].Body, &u); err != nil {
		return User{}, fmt.Errorf("smart: user: %w", err)
	}
	return u, nil
}

// Users lists every user.
func (r *Registry) Users(ctx context.Context) ([]User, error) {
	recs, err := list(ctx, r.st, TypeUser)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(recs))
	for _, rec := range recs {
		var u User
		if err := json.Unmarshal(rec.Body, &u); err != nil {
			return nil, fmt.Errorf("smart: user %s: %w", rec.ID, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// DisableUser stops a user from signing in; their tokens stop verifying.
func (r *Registry) DisableUser(ctx context.Context, username string) error {
	return r.updateUser(ctx, username, func(u *User) error { u.Disabled = true; return nil })
}

// EnableUser lets a disabled user sign in again; their tokens that have not expired verify
// again.
func (r *Registry) EnableUser(ctx context.Context, username string) error {
	return r.updateUser(ctx, username, func(u *User) error { u.Disabled = false; return nil })
}

// SetPassword gives a user a new password (at least 8 characters); the old one stops working
// at once.
func (r *Registry) SetPassword(ctx context.Context, username, password string) error {
	if len(password) < 8 {
		return errors.New("password: at least 8 characters")
	}
	hash, err := HashSecret(password)
	if err != nil {
		return err
	}
	return r.updateUser(ctx, username, func(u *User) error { u.PasswordHash = hash; return nil })
}

// DeleteUser removes a user with every version of their record (the password hashes
// included). Their id is unknown from then on, so their sessions, tokens and refresh tokens
// stop as a disabled user's do; the username can be given to a new user.
func (r *Registry) DeleteUser(ctx context.Context, username string) error {
	u, err := r.UserByUsername(ctx, username)
	if err != nil {
		return err
	}
	return r.st.Purge(ctx, TypeUser, u.ID)
}

// updateUser applies change to the stored user with this username.
func (r *Registry) updateUser(ctx context.Context, username string, change func(*User) error) error {
	u, err := r.UserByUsername(ctx, username)
	if err != nil {
		return err
	}
	return update(ctx, r.st, TypeUser, u.ID, func(body []byte) []store.IndexEntry { return userIndex(u) },
		func(body []byte) ([]byte, error) {
			var cur User
			if err := json.Unmarshal(body, &cur); err != nil {
				return nil, err
			}
			if err := change(&cur); err != nil {
				return nil, err
			}
			return json.Marshal(cur)
		})
}

// CheckPassword returns the enabled user with this username and password; ErrBadPassword
// otherwise (unknown, disabled or wrong password alike, in about the same time); ErrBusy when
// too many passwords are being checked at once.
func (r *Registry) CheckPassword(ctx context.Context, username, password string) (User, error) {
	u, err := r.UserByUsername(ctx, username)
	if errors.Is(err, ErrUnknownUser) {
		u, err = User{}, nil // checked against the dummy hash: as slow as a wrong password
	}
	if err != nil {
		return User{}, err
	}
	ok, err := r.verifySecret(ctx, u.PasswordHash, password)
	if err != nil {
		return User{}, err
	}
	if !ok || u.Disabled || u.PasswordHash == "" {
		return User{}, ErrBadPassword
	}
	return u, nil
}

// UserByID returns a user by its id. ErrUnknownUser when there is none.
func (r *Registry) UserByID(ctx context.Context, id string) (User, error) {
	if id == "" || len(id) > 64 {
		return User{}, ErrUnknownUser
	}
	rec, err := r.st.Read(ctx, TypeUser, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		return User{}, ErrUnknownUser
	}
	if err != nil {
		return User{}, err
	}
	var u User
	if err := json.Unmarshal(rec.Body, &u); err != nil {
		return User{}, fmt.Errorf("smart: user %s: %w", id, err)
	}
	return u, nil
}
