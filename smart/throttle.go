package smart

import (
	"fmt"

	"sync"
	"time"

	"github.com/portico-health/portico/internal/clientaddr"
)

// Sign-in throttling: sign-in attempts are counted per (username, client address) and per
// client address, before the password is hashed: each attempt counts as a failure from the
// moment it starts, and is refunded when the password proves right (or nothing was checked).
// So concurrent wrong passwords cannot all be checked before the first failure counts. Past a
// limit within a window, further attempts are refused (HTTP 429) without hashing, for a delay
// that doubles with each further failure. Keying the username by address too means that
// nobody can lock a user out from everywhere by failing on their username; the address limit
// bounds what one address guesses across usernames. The counts live in this process's memory:
// a restart forgets them, and several Portico processes behind one name count separately
// (docs/smart.md).
const (
	loginWindow      = 15 * time.Minute // failures older than this (and not locked) are forgotten
	loginUserLimit   = 5                // failures of one username from one address before it is locked there
	loginAddrLimit   = 20               // failures from one address (many users behind one NAT)
	loginFirstDelay  = time.Minute
	loginMaxDelay    = time.Hour
	loginMaxTracked  = 100_000 // entries per map; beyond, unlocked entries are evicted
	loginMaxKeyBytes = 256     // longer usernames are counted by their first bytes
)

// loginThrottle counts failed sign-ins. Its zero value is not usable; see newLoginThrottle.
type loginThrottle struct {
	mu    sync.Mutex
	now   func() time.Time
	users map[string]*loginFailures
	addrs map[string]*loginFailures

	userLimit, addrLimit int
	window               time.Duration
	firstDelay, maxDelay time.Duration
	maxTracked           int
}

// loginFailures is one username's or address's recent failures.
type loginFailures struct {
	n     int       // failures since the count last started
	last  time.Time // the latest failure
	until time.Time // attempts are refused before this
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{now: now, users: map[string]*loginFailures{}, addrs: map[string]*loginFailures{},
		userLimit: loginUserLimit, addrLimit: loginAddrLimit, window: loginWindow,
		firstDelay: loginFirstDelay, maxDelay: loginMaxDelay, maxTracked: loginMaxTracked}
}

// userKey is the key of a username's failures from one address.
func userKey(username, addr string) string {
	// As sign-in reads it (registry.go): " Alice" and "alice" are one user, and one count.
	username = normalUsername(username)
	if len(username) > loginMaxKeyBytes {
		username = username[:loginMaxKeyBytes]
	}
	return username + "\x00" + clientaddr.Bucket(addr)
}

// attempt is how a sign-in attempt ended.
type attempt int

const (
	attemptFailed    attempt = iota // wrong password: it stays counted
	attemptSucceeded                // right password: the username's count is cleared, the address's refunded
	attemptVoid                     // nothing was checked (busy, store error): refunded
)

// begin reserves an attempt for username from addr before its password is checked: it counts
// it as a failure at once, and returns the function that settles it. wait > 0 (and no
// function) when attempts from there are refused for that long.
func (t *loginThrottle) begin(username, addr string) (done func(attempt), wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	uk, ak := userKey(username, addr), clientaddr.Bucket(addr)
	for _, f := range []*loginFailures{t.users[uk], t.addrs[ak]} {
		if f != nil && f.until.After(now) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	if wait > 0 {
		return nil, wait
	}
	ru := t.count(t.users, uk, t.userLimit, now)
	ra := t.count(t.addrs, ak, t.addrLimit, now)
	return func(a attempt) {
		t.mu.Lock()
		defer t.mu.Unlock()
		switch a {
		case attemptSucceeded:
			if t.users[uk] == ru.f {
				delete(t.users, uk)
			}
			ra.refund()
		case attemptVoid:
			ru.refund()
			ra.refund()
		}
	}, 0
}

// reservation is one counted attempt: the entry and the lock it had before.
type reservation struct {
	f                *loginFailures
	prevUntil, until time.Time
}

// refund takes back a counted attempt, and the lock it set if no later failure moved it.
func (r reservation) refund() {
	r.f.n = max(r.f.n-1, 0)
	if r.f.until.Equal(r.until) {
		r.f.until = r.prevUntil
	}
}

func (t *loginThrottle) count(m map[string]*loginFailures, key string, limit int, now time.Time) reservation {
	f := m[key]
	if f == nil || t.stale(f, now) {
		if f == nil && len(m) >= t.maxTracked {
			t.evict(m, now)
		}
		f = &loginFailures{}
		m[key] = f
	}
	r := reservation{f: f, prevUntil: f.until}
	f.n++
	f.last = now
	if f.n >= limit {
		d := t.firstDelay << min(f.n-limit, 20)
		f.until = now.Add(min(d, t.maxDelay))
	}
	r.until = f.until
	return r
}

// stale: the last failure, and the end of the last lock, are older than the window (so the
// delay keeps doubling for attempts right after a lock).
func (t *loginThrottle) stale(f *loginFailures, now time.Time) bool {
	end := f.last
	if f.until.After(end) {
		end = f.until
	}
	return now.Sub(end) > t.window
}

// evict makes room: stale entries first, then (under a flood of made-up usernames) any
// entry that holds no lock, so that a lock in force is never forgotten.
func (t *loginThrottle) evict(m map[string]*loginFailures, now time.Time) {
	for k, f := range m {
		if t.stale(f, now) {
			delete(m, k)
		}
	}
	for k, f := range m {
		if len(m) < t.maxTracked*9/10 {
			return
		}
		if !f.until.After(now) {
			delete(m, k)
		}
	}
}

// waitText says a delay in words for the sign-in page.
func waitText(d time.Duration) string {
	switch m := int((d + time.Minute - 1) / time.Minute); {
	case d < time.Minute:
		return "a minute"
	case m == 1:
		return "1 minute"
	default:
		return fmt.Sprintf("%d minutes", m)
	}
}
