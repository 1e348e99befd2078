package smart

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/portico-health/portico/store"
)

// signingKeysID is the one record of TypeSigningKeys.
const signingKeysID = "default"

// keyReload is how often a running server rereads the key set, so that a rotation by
// `portico admin keys rotate` reaches it (an unknown kid also triggers a reread, at most this often).
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

type storedKeys struct {
	Keys []storedKey `json:"keys"` // current first, then the previous one
}

// KeySet holds the RS256 signing keys: the current one signs, the previous one still verifies
// tokens signed before the last rotation. Both are published in the JWKS. The keys live in the
// store (record PorticoSigningKeys/default), so every Portico sharing the store signs alike.
type KeySet struct {
	st store.Store

	mu     sync.Mutex
	keys   []signingKey
	loaded time.Time

	// onReload runs after every reload (set once, before use): the server forgets the tokens
	// it verified, so that tokens of a retired key stop at once.
	onReload func()
}

// loadKeys reads the key set, creating it on first use.
func loadKeys(ctx context.Context, st store.Store) (*KeySet, error) {
	ks := &KeySet{st: st}
	if err := ks.reload(ctx); err == nil {
		return ks, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	k, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	body, err := encodeKeys([]signingKey{k})
	if err != nil {
		return nil, err
	}
	if err := create(ctx, st, TypeSigningKeys, signingKeysID, body, nil); err != nil && !errors.Is(err, store.ErrVersionConflict) {
		return nil, fmt.Errorf("smart: store signing keys: %w", err)
	}
	// Another instance may have won the race: read what is stored.
	if err := ks.reload(ctx); err != nil {
		return nil, err
	}
	return ks, nil
}

func newSigningKey() (signingKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKey{}, err
	}
	return signingKey{kid: RSAPublicJWK(&key.PublicKey, "RS256").Kid, key: key, created: time.Now().UTC()}, nil
}

func encodeKeys(keys []signingKey) ([]byte, error) {
	var s storedKeys
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			return nil, err
		}
		s.Keys = append(s.Keys, storedKey{Kid: k.kid, Created: k.created, PKCS8: der})
	}
	return json.Marshal(s)
}

func decodeKeys(body []byte) ([]signingKey, error) {
	var s storedKeys
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("smart: signing keys: %w", err)
	}
	var out []signingKey
	for _, sk := range s.Keys {
		k, err := x509.ParsePKCS8PrivateKey(sk.PKCS8)
		if err != nil {
			return nil, fmt.Errorf("smart: signing key %s: %w", sk.Kid, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("smart: signing key %s is not RSA", sk.Kid)
		}
		out = append(out, signingKey{kid: sk.Kid, key: rk, created: sk.Created})
	}
	if len(out) == 0 {
		return nil, errors.New("smart: signing key set is empty")
	}
	return out, nil
}

func (ks *KeySet) reload(ctx context.Context) error {
	rec, err := ks.st.Read(ctx, TypeSigningKeys, signingKeysID)
	if err != nil {
		return err
	}
	keys, err := decodeKeys(rec.Body)
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

// RotateKeys makes a new signing key current in the store; the current one becomes the
// previous one and the one before it is dropped (tokens it signed stop verifying, so rotate
// no more often than the longest token lifetime). Running servers pick the change up within
// a minute; until then they keep signing with the old key, which stays valid.
func RotateKeys(ctx context.Context, st store.Store) (kid string, err error) {
	k, err := newSigningKey()
	if err != nil {
		return "", err
	}
	err = update(ctx, st, TypeSigningKeys, signingKeysID, nil, func(body []byte) ([]byte, error) {
		old, err := decodeKeys(body)
		if err != nil {
			return nil, err
		}
		return encodeKeys([]signingKey{k, old[0]})
	})
	if errors.Is(err, store.ErrNotFound) {
		body, eerr := encodeKeys([]signingKey{k})
		if eerr != nil {
			return "", eerr
		}
		err = create(ctx, st, TypeSigningKeys, signingKeysID, body, nil)
	}
	if err != nil {
		return "", err
	}
	return k.kid, nil
}
