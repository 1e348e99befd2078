package smart

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters (RFC 9106 §4, the second recommended option: 64 MiB, 3 passes).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
)

var b64 = base64.RawStdEncoding

// Client secrets are made by Portico (newSecret: 32 random bytes), so no guessing can reach
// them and they need no slow hash: a client secret's hash is its SHA-256, and checking a wrong
// one costs a microsecond outside the password-hashing slots. When client secrets were hashed
// like passwords, ten addresses sending wrong ones, each within its rate limit, kept those
// slots full and nine sign-ins in ten were refused (blind attack, round 8). Secrets hashed
// with argon2id by earlier versions still verify (through the slots), and are rehashed at
// their first successful use.
const clientSecretPrefix = "$sha256$"

// hashClientSecret is the stored hash of a client secret made by newSecret.
func hashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return clientSecretPrefix + b64.EncodeToString(sum[:])
}

// verifyClientSecretHash reports whether secret matches a hashClientSecret hash, in constant
// time.
func verifyClientSecretHash(hash, secret string) bool {
	want, err := b64.DecodeString(strings.TrimPrefix(hash, clientSecretPrefix))
	sum := sha256.Sum256([]byte(secret))
	return err == nil && strings.HasPrefix(hash, clientSecretPrefix) && subtle.ConstantTimeCompare(want, sum[:]) == 1
}

// HashSecret hashes a password or client secret with argon2id into the PHC string format
// ($argon2id$v=19$m=65536,t=3,p=2$salt$hash).
func HashSecret(secret string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("smart: malformed argon2id hash")

// verifySecretHash reports whether secret matches a HashSecret hash, comparing in constant
// time. The parameters are read from the hash, so older hashes keep working when they change.
// Call it only through Registry.verifySecret, which bounds how many run at once.
func verifySecretHash(hash, secret string) bool {
	ok, err := verifySecret(hash, secret)
	return err == nil && ok
}

func verifySecret(hash, secret string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(secret), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when a user or client is unknown, so that the answer takes
// as long as for a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashSecret("portico-dummy")
	return h
})
