package smart

import (
	"fmt"

	"sync"
	"time"
)

// Sign-in throttling: failed password checks on the sign-in page are counted per username
// and per client address. Past a limit within a window, further attempts are refused (HTTP
// 429) without checking the password, for a delay that doubles with each further failure.
// The counts live in this process's memory: a restart forgets them, and several Portico
// processes behind one name count separately (docs/smart.md).
const (
	loginWindow      = 15 * time.Minute // failures older than this (and not locked) are forgotten
	loginUserLimit   = 5                // failures of one username before it is locked
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

func userKey(username string) string {
	if len(username) > loginMaxKeyBytes {
		return username[:loginMaxKeyBytes]
	}
	return username
}

// wait is how long attempts for username from addr are still refused (0: allowed).
func (t *loginThrottle) wait(username, addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	w := time.Duration(0)
	for _, f := range []*loginFailures{t.users[userKey(username)], t.addrs[addr]} {
		if f != nil && f.until.After(now) {
			w = max(w, f.until.Sub(now))
		}
	}
	return w
}

// failed records a failed attempt for username from addr.
func (t *loginThrottle) failed(username, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.count(t.users, userKey(username), t.userLimit, now)
	t.count(t.addrs, addr, t.addrLimit, now)
}

func (t *loginThrottle) count(m map[string]*loginFailures, key string, limit int, now time.Time) {
	f := m[key]
	if f == nil || t.stale(f, now) {
		if f == nil && len(m) >= t.maxTracked {
			t.evict(m, now)
		}
		f = &loginFailures{}
		m[key] = f
	}
	f.n++
	f.last = now
	if f.n >= limit {
		d := t.firstDelay << min(f.n-limit, 20)
		f.until = now.Add(min(d, t.maxDelay))
	}
}

// stale: the failures are old and no lock holds.
func (t *loginThrottle) stale(f *loginFailures, now time.Time) bool {
	return now.Sub(f.last) > t.window && !f.until.After(now)
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

// succeeded clears the username's failures. The address's count stays: signing in to one
// account must not buy more guesses at others.
func (t *loginThrottle) succeeded(username string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.users, userKey(username))
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
