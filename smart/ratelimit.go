package smart

import (
	"net/http"
	"time"

	"github.com/portico-health/portico/internal/clientaddr"
	"github.com/portico-health/portico/internal/ratelimit"
)

// DefaultRateLimit is how many requests per second the token, introspection and revocation
// endpoints take from one client address, and from one authenticated client, by default; each
// may burst to twice that.
const DefaultRateLimit = 20

// rateLimits are the limits of the endpoints that authenticate clients. nil: no limits.
type rateLimits struct {
	addrs, clients *ratelimit.Limiter
}

func newRateLimits(perSecond float64) *rateLimits {
	if perSecond < 0 {
		return nil
	}
	if perSecond == 0 {
		perSecond = DefaultRateLimit
	}
	return &rateLimits{addrs: ratelimit.New(perSecond), clients: ratelimit.New(perSecond)}
}

// errRateLimited: HTTP 429 with Retry-After.
func errRateLimited(retry time.Duration) *Error {
	return &Error{Code: "temporarily_unavailable", Status: http.StatusTooManyRequests,
		Description: "too many requests; retry after " + ratelimit.RetryAfter(retry) + " s", RetryAfter: retry}
}

// limitAddr wraps an endpoint with the limit per client address (clientaddr.From), checked
// before anything else: a refused request costs no parsing, no store read and no hashing.
func (s *Server) limitAddr(h http.HandlerFunc) http.HandlerFunc {
	if s.limits == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		addr := clientaddr.From(r)
		if ok, retry := s.limits.addrs.Allow(clientaddr.Bucket(addr), s.cfg.Now()); !ok {
			s.log.Warn("rate limited", "path", r.URL.Path, "addr", addr)
			writeError(w, errRateLimited(retry))
			return
		}
		h(w, r)
	}
}

// limitClient counts a request of an authenticated client: by its credentials (a secret, an
// assertion) or its access token, never by a client_id anyone can write, so that nobody can
// spend another client's budget. A public client, which has no credentials, is limited by
// address only.
func (s *Server) limitClient(clientID string) error {
	if s.limits == nil {
		return nil
	}
	if ok, retry := s.limits.clients.Allow(clientID, s.cfg.Now()); !ok {
		s.log.Warn("rate limited", "client_id", clientID)
		return errRateLimited(retry)
	}
	return nil
}
