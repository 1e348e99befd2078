package smart

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-health/portico/internal/clientaddr"
)

// DefaultPasswordHashes is how many argon2id checks run at once by default: each holds 64 MiB
// for tens of milliseconds, so the memory they can take is bounded by this number, whatever the
// number of sign-in and Basic-auth requests arriving.
const DefaultPasswordHashes = 2

// hashWait bounds how long a check waits for a slot; at most hashQueue checks per slot wait.
const (
	hashWait  = 2 * time.Second
	hashQueue = 4
)

// ErrBusy: every password-hashing slot is taken and the queue is full, or the wait ran out.
// HTTP 503 with Retry-After, before any hashing: an unauthenticated flood costs neither
// memory nor an unbounded queue.
var ErrBusy = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable,
	Description: "too many password checks at once; try again in a moment"}

// hashGate bounds the argon2id hashes running at once and the callers waiting for one. Every
// password and client-secret check goes through it (Registry.verifySecret).
type hashGate struct {
	slots   chan struct{}
	waiting chan struct{}
	wait    time.Duration

	// perAddr is how many checks one client address may have running or waiting at once: half
	// the slots (at least one), so that one address, even within its rate limit, cannot keep
	// every slot busy with wrong secrets and leave every other client waiting or refused.
	perAddr int
	mu      sync.Mutex
	inUse   map[string]int

	running, peak atomic.Int32 // for tests
}

func newHashGate(n int) *hashGate {
	if n <= 0 {
		n = DefaultPasswordHashes
	}
	return &hashGate{slots: make(chan struct{}, n), waiting: make(chan struct{}, n*hashQueue), wait: hashWait,
		perAddr: max(1, n/2), inUse: map[string]int{}}
}

// do runs fn in a slot, or returns ErrBusy.
func (g *hashGate) do(ctx context.Context, fn func()) error {
	if addr := clientaddr.Bucket(clientaddr.FromContext(ctx)); addr != "" {
		g.mu.Lock()
		if g.inUse[addr] >= g.perAddr {
			g.mu.Unlock()
			return ErrBusy
		}
		g.inUse[addr]++
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			if g.inUse[addr]--; g.inUse[addr] <= 0 {
				delete(g.inUse, addr)
			}
			g.mu.Unlock()
		}()
	}
	select {
	case g.slots <- struct{}{}:
	default:
		select {
		case g.waiting <- struct{}{}:
		default:
			return ErrBusy
		}
		t := time.NewTimer(g.wait)
		select {
		case g.slots <- struct{}{}:
			<-g.waiting
			t.Stop()
		case <-t.C:
			<-g.waiting
			return ErrBusy
		case <-ctx.Done():
			<-g.waiting
			t.Stop()
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	fn()
	return nil
}
