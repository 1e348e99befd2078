package smart

import (
	"crypto/sha256"
	"github.com/portico-health/portico/policy"
	"sync"
	"time"
)

// tokenRecheck is how long a verified access token is trusted without checking the store
// again. Checking a token costs an RS256 verification and three store reads (revoked token,
// revoked grant, client), more than the FHIR read it guards; with the cache a token costs a
// hash and a map look-up. Revocations made through this process clear the cache at once;
// those made by another process (a second Portico on the same store, `portico admin app
// disable`) take effect within tokenRecheck.
const tokenRecheck = 5 * time.Second

// maxCachedTokens bounds the cache; when full it is emptied, which costs one full
// verification per token in use.
const maxCachedTokens = 10000

// tokenCache remembers the Principal of access tokens verified recently, keyed by the
// SHA-256 of the token so that no bearer token is kept in memory.
type tokenCache struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	p         policy.Principal
	checkedAt time.Time
}

// get returns the Principal of a token verified less than tokenRecheck ago and not expired.
func (c *tokenCache) get(token string, now time.Time) (policy.Principal, bool) {
	key := sha256.Sum256([]byte(token))
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || now.Sub(e.checkedAt) >= tokenRecheck || !now.Before(e.p.ExpiresAt) {
		return policy.Principal{}, false
	}
	return e.p, true
}

func (c *tokenCache) put(token string, p policy.Principal, now time.Time) {
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedTokens {
		c.entries = make(map[[sha256.Size]byte]cachedToken)
	}
	c.entries[key] = cachedToken{p: p, checkedAt: now}
}

// reset forgets every token: called after any revocation or client change made here.
func (c *tokenCache) reset() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}
