package smart

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/portico-health/portico/internal/clientaddr"
)

// DefaultRateLimit is how many requests per second the token, introspection and revocation
// endpoints take from one client address, and from one authenticated client, by default; each
// may burst to twice that.
const DefaultRateLimit = 20

// maxLimited bounds the keys each limiter tracks; beyond, idle ones (a full bucket) are
// dropped, then any.
const maxLimited = 100_000

// keyedLimiter is a token bucket per key (an address, a client id).
type keyedLimiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
}

func newKeyedLimiter(perSecond float64) *keyedLimiter {
	return &keyedLimiter{limit: rate.Limit(perSecond), burst: max(1, int(math.Ceil(2*perSecond))),
		buckets: map[string]*rate.Limiter{}}
}

// allow takes one request for key at now; when refused, retry is how long until one would pass.
func (l *keyedLimiter) allow(key string, now time.Time) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimited {
			l.evict(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *keyedLimiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxLimited*9/10 {
			return
		}
		delete(l.buckets, k) // a flood of keys: forgetting a bucket only grants it a fresh burst
	}
}

// rateLimits are the limits of the endpoints that authenticate clients. nil: no limits.
type rateLimits struct {
	addrs, clients *keyedLimiter
}

func newRateLimits(perSecond float64) *rateLimits {
	if perSecond < 0 {
		return nil
	}
	if perSecond == 0 {
		perSecond = DefaultRateLimit
	}
	return &rateLimits{addrs: newKeyedLimiter(perSecond), clients: newKeyedLimiter(perSecond)}
}

// errRateLimited: HTTP 429 with Retry-After.
func errRateLimited(retry time.Duration) *Error {
	return &Error{Code: "temporarily_unavailable", Status: http.StatusTooManyRequests,
		Description: "too many requests; retry after " + strconv.Itoa(retrySeconds(retry)) + " s", RetryAfter: retry}
}

func retrySeconds(d time.Duration) int { return max(1, int((d+time.Second-1)/time.Second)) }

// limitAddr wraps an endpoint with the limit per client address (clientaddr.From), checked
// before anything else: a refused request costs no parsing, no store read and no hashing.
func (s *Server) limitAddr(h http.HandlerFunc) http.HandlerFunc {
	if s.limits == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		addr := clientaddr.From(r)
		if ok, retry := s.limits.addrs.allow(clientaddr.Bucket(addr), s.cfg.Now()); !ok {
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
	if ok, retry := s.limits.clients.allow(clientID, s.cfg.Now()); !ok {
		s.log.Warn("rate limited", "client_id", clientID)
		return errRateLimited(retry)
	}
	return nil
}
