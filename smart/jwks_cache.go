package smart

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// jwksCache fetches clients' registered JWKS URLs, keeping each set for jwksTTL and
// refetching early (at most every jwksMinRefetch) when a kid is not in it, so that a client's
// key rotation works without waiting.
type jwksCache struct {
	client *http.Client

	mu      sync.Mutex
	entries map[string]jwksEntry
}

type jwksEntry struct {
	set     JWKS
	fetched time.Time
}

const (
	jwksTTL        = 5 * time.Minute
	jwksMinRefetch = 10 * time.Second
	jwksMaxBytes   = 256 << 10
)

func newJWKSCache(c *http.Client) *jwksCache {
	return &jwksCache{client: c, entries: map[string]jwksEntry{}}
}

// get returns the set at url; refresh asks for a fresh copy (a kid was missing).
func (c *jwksCache) get(ctx context.Context, url string, refresh bool) (JWKS, error) {
	c.mu.Lock()
	e, ok := c.entries[url]
	c.mu.Unlock()
	age := time.Since(e.fetched)
	if ok && age < jwksTTL && (!refresh || age < jwksMinRefetch) {
		return e.set, nil
	}
	set, err := c.fetch(ctx, url)
	if err != nil {
		if ok {
			return e.set, nil // keep serving the last good set while the URL fails
		}
		return JWKS{}, err
	}
	c.mu.Lock()
	c.entries[url] = jwksEntry{set: set, fetched: time.Now()}
	c.mu.Unlock()
	return set, nil
}

func (c *jwksCache) fetch(ctx context.Context, url string) (JWKS, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return JWKS{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return JWKS{}, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return JWKS{}, fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes))
	if err != nil {
		return JWKS{}, fmt.Errorf("fetch jwks: %w", err)
	}
	return ParseJWKS(body)
}
