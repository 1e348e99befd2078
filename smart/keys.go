package smart

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/portico-health/portico/store"
)

// The signing keys live in the store, one record per key (PorticoSigningKey/{kid}), written
// once and never updated, so that a key's private half is in exactly one version, which Purge
// removes when the key is destroyed: a rotated-out key does not live on in the store's history.
// TypeSigningKeys is the single record of every key that Portico kept before; it is migrated
// and purged at start.
const (
	TypeSigningKey  = "PorticoSigningKey"
	TypeSigningKeys = "PorticoSigningKeys" // before: one record, PorticoSigningKeys/default
	signingKeysID   = "default"
)

// keyReload is how often a running server rereads the keys, so that a rotation by `portico
// admin keys rotate` reaches it (an unknown kid also triggers a reread, at most every second).
const keyReload = time.Minute

// signingKey is one RS256 key; kid is its RFC 7638 thumbprint.
type signingKey struct {
	kid     string
	key     *rsa.PrivateKey
	created time.Time
}

type storedKey struct {
	Kid     string    `json:"kid"`
	Created time.Time `json:"created"`
	PKCS8   []byte    `json:"pkcs8"` // base64 in JSON
}

// KeySet holds the RS256 signing keys: the newest signs; the others, retired by a rotation,
// still verify the tokens they signed until the sweeper destroys them (destroyRetiredKeys).
// All are published in the JWKS. Every Portico sharing the store signs alike.
type KeySet struct {
	st store.Store

	mu     sync.Mutex
	keys   []signingKey // newest first
	loaded time.Time

	// onReload runs after every reload (set once, before use): the server forgets the tokens
	// it verified, so that tokens of a destroyed key stop at once.
	onReload func()
}

// loadKeys reads the keys, migrating the old single record, or creating the first key.
func loadKeys(ctx context.Context, st store.Store) (*KeySet, error) {
	ks := &KeySet{st: st}
	if err := migrateKeys(ctx, st); err != nil {
		return nil, err
	}
	if err := ks.reload(ctx); err == nil {
		return ks, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if _, err := RotateKeys(ctx, st); err != nil {
		return nil, fmt.Errorf("smart: store signing key: %w", err)
	}
	// Another instance may have made one too: both verify, the newest signs.
	if err := ks.reload(ctx); err != nil {
		return nil, err
	}
	return ks, nil
}

// migrateKeys moves the keys of the old single record (every version of which held the
// private keys of its time) to records of their own, then purges it with its history.
func migrateKeys(ctx context.Context, st store.Store) error {
	rec, err := st.Read(ctx, TypeSigningKeys, signingKeysID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		return nil
	}
	if err != nil {
		return err
	}
	var old struct {
		Keys []storedKey `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body, &old); err != nil {
		return fmt.Errorf("smart: signing keys: %w", err)
	}
	for _, k := range old.Keys {
		body, err := json.Marshal(k)
		if err != nil {
			return err
		}
		if err := create(ctx, st, TypeSigningKey, k.Kid, body, nil); err != nil && !errors.Is(err, store.ErrVersionConflict) {
			return fmt.Errorf("smart: migrate signing key %s: %w", k.Kid, err)
		}
	}
	return st.Purge(ctx, TypeSigningKeys, signingKeysID)
}

func newSigningKey() (signingKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKey{}, err
	}
	return signingKey{kid: RSAPublicJWK(&key.PublicKey, "RS256").Kid, key: key, created: time.Now().UTC()}, nil
}

func decodeKey(body []byte) (signingKey, error) {
	var sk storedKey
	if err := json.Unmarshal(body, &sk); err != nil {
		return signingKey{}, fmt.Errorf("smart: signing key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(sk.PKCS8)
	if err != nil {
		return signingKey{}, fmt.Errorf("smart: signing key %s: %w", sk.Kid, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return signingKey{}, fmt.Errorf("smart: signing key %s is not RSA", sk.Kid)
	}
	return signingKey{kid: sk.Kid, key: rk, created: sk.Created}, nil
}

// readKeys lists the stored keys, newest first; store.ErrNotFound when there is none.
func readKeys(ctx context.Context, st store.Store) ([]signingKey, error) {
	recs, err := list(ctx, st, TypeSigningKey)
	if err != nil {
		return nil, err
	}
	keys := make([]signingKey, 0, len(recs))
	for _, rec := range recs {
		k, err := decodeKey(rec.Body)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("smart: no signing key: %w", store.ErrNotFound)
	}
	slices.SortFunc(keys, func(a, b signingKey) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return cmp.Compare(b.kid, a.kid)
	})
	return keys, nil
}

func (ks *KeySet) reload(ctx context.Context) error {
	keys, err := readKeys(store.Internal(ctx), ks.st) // every token check may wait for it
	if err != nil {
		return err
	}
	ks.mu.Lock()
	ks.keys, ks.loaded = keys, time.Now()
	ks.mu.Unlock()
	if ks.onReload != nil {
		ks.onReload()
	}
	return nil
}

// snapshot returns the keys, rereading them when they are older than keyReload (or when
// force is set and the last read is older than a second: an unknown kid).
func (ks *KeySet) snapshot(ctx context.Context, force bool) []signingKey {
	ks.mu.Lock()
	age := time.Since(ks.loaded)
	keys := ks.keys
	ks.mu.Unlock()
	if age > keyReload || (force && age > time.Second) {
		if err := ks.reload(ctx); err == nil {
			ks.mu.Lock()
			keys = ks.keys
			ks.mu.Unlock()
		}
	}
	return keys
}

func (ks *KeySet) current(ctx context.Context) signingKey { return ks.snapshot(ctx, false)[0] }

// verificationKey returns the public key with this kid.
func (ks *KeySet) verificationKey(ctx context.Context, kid string) (*rsa.PublicKey, bool) {
	for _, force := range []bool{false, true} {
		for _, k := range ks.snapshot(ctx, force) {
			if k.kid == kid {
				return &k.key.PublicKey, true
			}
		}
	}
	return nil, false
}

// JWKS is the public half of the key set.
func (ks *KeySet) JWKS(ctx context.Context) JWKS {
	var set JWKS
	for _, k := range ks.snapshot(ctx, false) {
		set.Keys = append(set.Keys, RSAPublicJWK(&k.key.PublicKey, "RS256"))
	}
	return set
}

// RotateKeys stores a new signing key, which becomes the current one; the others stay for
// verification until the sweeper of a running server destroys them, the longest token
// lifetime (and a key reload) after their successor appeared. Running servers pick the new key
// up within a minute; until then they keep signing with the previous one, which stays valid.
func RotateKeys(ctx context.Context, st store.Store) (kid string, err error) {
	k, err := newSigningKey()
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(storedKey{Kid: k.kid, Created: k.created, PKCS8: der})
	if err != nil {
		return "", err
	}
	if err := create(ctx, st, TypeSigningKey, k.kid, body, nil); err != nil {
		return "", err
	}
	return k.kid, nil
}

// keyGrace is how long a retired key is kept after its successor appeared: every token or
// sign-in session it signed has expired by then, also one signed by a server that had not yet
// reloaded the keys.
func (s *Server) keyGrace() time.Duration {
	return max(s.cfg.AccessTokenTTL, sessionTTL) + keyReload + sweepSkew
}

// destroyRetiredKeys purges the keys whose successor appeared more than keyGrace ago, and
// rereads the keys when it did (the tokens they signed stop at once). It returns how many.
func (s *Server) destroyRetiredKeys(ctx context.Context) (int, error) {
	keys, err := readKeys(ctx, s.st)
	if err != nil {
		return 0, err
	}
	now, n := s.cfg.Now(), 0
	for i := 1; i < len(keys); i++ {
		if now.Sub(keys[i-1].created) < s.keyGrace() {
			continue
		}
		if err := s.st.Purge(ctx, TypeSigningKey, keys[i].kid); err != nil {
			return n, err
		}
		s.log.Info("retired signing key destroyed", "kid", keys[i].kid)
		n++
	}
	if n > 0 {
		return n, s.keys.reload(ctx)
	}
	return 0, nil
}
