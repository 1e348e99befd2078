// Package ratelimit is a token bucket per key (a client address, a client, a user): the limits
// of the authorization endpoints (package smart) and of the FHIR API (package server).
package ratelimit

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxKeys bounds the keys a Limiter tracks; beyond, idle ones (a full bucket) are dropped,
// then any: a flood of keys costs bounded memory, and forgetting a bucket only grants that
// key a fresh burst.
const maxKeys = 100_000

// Limiter allows perSecond requests per key, in bursts of twice that. A nil *Limiter allows
// everything.
type Limiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
}

// New returns a limiter of perSecond requests per key (bursts of twice that), or nil (no
// limit) when perSecond <= 0.
func New(perSecond float64) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{limit: rate.Limit(perSecond), burst: max(1, int(math.Ceil(2*perSecond))),
		buckets: map[string]*rate.Limiter{}}
}

// Allow takes one request for key at now; when refused, retry is how long until one would pass.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retry time.Duration) {
	return l.Reserve(key, now, 0)
}

// Reserve takes one request for key at now if it can pass within maxWait: ok, and wait is
// how long the caller must wait before serving it (0 within the burst). Otherwise the
// request is refused and wait is how long until one would pass. Waiting instead of refusing
// at once makes a client that sends one request after another slow down to the rate without
// ever being refused, while a flood (many requests at once) still is: each waiting request
// pushes the next one's wait further.
func (l *Limiter) Reserve(key string, now time.Time, maxWait time.Duration) (ok bool, wait time.Duration) {
	return l.ReserveN(key, now, 1, maxWait)
}

// Burst is the most requests a key may take at once (0 for a nil Limiter: no limit).
func (l *Limiter) Burst() int {
	if l == nil {
		return 0
	}
	return l.burst
}

// Rate is the requests per second allowed to each key (0 for a nil Limiter: no limit).
func (l *Limiter) Rate() float64 {
	if l == nil {
		return 0
	}
	return float64(l.limit)
}

// ReserveN is Reserve for n requests at once (a Bundle's writes); n above Burst never passes.
func (l *Limiter) ReserveN(key string, now time.Time, n int, maxWait time.Duration) (ok bool, wait time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxKeys {
			l.evict(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, n)
	if !r.OK() {
		return false, time.Duration(1<<63 - 1)
	}
	d := r.DelayFrom(now)
	if d > maxWait {
		r.CancelAt(now)
		return false, d
	}
	return true, d
}

func (l *Limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxKeys*9/10 {
			return
		}
		delete(l.buckets, k)
	}
}

// RetryAfter is retry as the whole seconds of a Retry-After header (at least 1).
func RetryAfter(retry time.Duration) string {
	return strconv.Itoa(RetrySeconds(retry))
}

// RetrySeconds is retry rounded up to whole seconds, at least 1.
func RetrySeconds(retry time.Duration) int { return max(1, int((retry+time.Second-1)/time.Second)) }
