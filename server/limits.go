package server

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/internal/clientaddr"
	"github.com/portico-health/portico/internal/ratelimit"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// The FHIR API's default rate limits (docs/operations.md, "Rate limits"): generous for an app
// or an integration, small enough that one caller cannot take the server from the others. The
// address limit is off by default: behind a reverse proxy not listed in --trusted-proxies every
// client has the proxy's address, and one limit for all of them would be a trap.
const (
	defaultAddressRateLimit = 0   // requests per second from one client address
	defaultClientRateLimit  = 200 // requests per second of one client acting for one user
	defaultWriteRateLimit   = 10  // writes per second of one client acting for one user
	// search index entries written per second of one client acting for one user: a hundred
	// times what ten writes of ordinary resources make (most have 10-100 entries), one write
	// a second of a resource at the largest allowed (10,000, api/write.go)
	defaultIndexRateLimit = 10_000
)

// A request past its burst waits up to maxRateWait for its turn rather than being refused, so
// that a client sending one request after another is slowed to the rate, never refused; a
// flood is refused, since each waiting request pushes the next one's wait further. At most
// maxRateWaiting requests wait in the whole server; beyond, they are refused at once.
const (
	maxRateWait    = time.Second
	maxRateWaiting = 512
)

// A request waits up to maxSlotWait for one of its caller's concurrency slots: longer than a
// rate's wait, since it waits for the caller's own earlier requests, which may be slow
// searches; a caller that keeps more in flight than it can be served is refused.
const maxSlotWait = 5 * time.Second

// defaultClientConcurrency is half the CPUs Go may use, at least 1: one caller's parallel
// requests then leave the other half of the machine to everyone else.
func defaultClientConcurrency() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// apiLimits are the rate limits of the FHIR API: per client address (before authentication,
// so that a flood of bad tokens costs nothing), and, once the caller is known, per principal
// (its client and user) for all requests and for writes. A nil limiter allows everything.
type apiLimits struct {
	addrs, principals, writes *ratelimit.Limiter
	indexEntries              *ratelimit.Limiter // per principal
	inFlight                  *ratelimit.Slots   // per principal
	maxSlotWait               time.Duration
	now                       func() time.Time
	waiting                   atomic.Int64
}

func (c Config) apiLimits() *apiLimits {
	return &apiLimits{
		addrs:        ratelimit.New(c.RateLimitAddress),
		principals:   ratelimit.New(c.RateLimitClient),
		writes:       ratelimit.New(c.RateLimitWrites),
		indexEntries: ratelimit.New(c.RateLimitIndexEntries),
		inFlight:     ratelimit.NewSlots(c.ClientConcurrency),
		maxSlotWait:  maxSlotWait,
		now:          time.Now,
	}
}

// byAddress limits every request to the FHIR API (/fhir, the CapabilityStatement included) by
// client address (clientaddr.From; behind --trusted-proxies, the forwarded one).
func (l *apiLimits) byAddress() echo.MiddlewareFunc {
	const base = "/fhir"
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := c.Request().URL.Path
			if p != base && !strings.HasPrefix(p, base+"/") {
				return next(c)
			}
			if err := l.take(c, l.addrs, clientaddr.Bucket(clientaddr.From(c.Request())), "this address"); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// byPrincipal limits the requests of the caller the authentication middleware put in the
// context, one budget per client and user, so that one patient's app cannot starve another's,
// nor one integration the portal; and the writes of a client acting for a user (a patient's,
// a carer's or a clinician's app), which no person needs by the dozen each second. A backend
// service (client_credentials: no user) writes as fast as its request budget allows, as an
// import must. It also bounds the requests in flight (--client-concurrency) of one user, over
// all their apps, or of one backend client: the rate alone lets one caller's parallel costly
// searches take every core. The same key names the caller to the store (store.WithCaller), which
// stops the long searches of the caller that used it most when others wait. Without
// authentication (--auth=none) there is no principal and only the address limit applies.
func (l *apiLimits) byPrincipal() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := policy.PrincipalFrom(c.Request().Context())
			if !ok {
				return next(c)
			}
			key := p.ClientID + "\x00" + p.Subject
			if err := l.take(c, l.principals, key, "this client"); err != nil {
				return err
			}
			// A Bundle's writes are counted one by one by the API (admitWrites).
			if p.FHIRUser != "" && isWrite(c.Request().Method) && !isBundle(c) {
				if err := l.take(c, l.writes, key, "this client's writes"); err != nil {
					return err
				}
			}
			if c.Request().Context().Value(slotHeld{}) != nil {
				return next(c) // a Bundle's search entry: the Bundle holds the slot
			}
			// In flight, a user's apps share the user's slots: two apps (or a patient's and
			// their portal's) would otherwise keep twice the costly searches running.
			slotKey := key
			if p.FHIRUser != "" && p.Subject != "" {
				slotKey = "user\x00" + p.Subject
			}
			l.waiting.Add(1)
			release, ok := l.inFlight.Acquire(c.Request().Context(), slotKey, l.slotWait())
			l.waiting.Add(-1)
			if !ok {
				if err := c.Request().Context().Err(); err != nil {
					return err
				}
				return throttledConcurrency(l.inFlight.Max())
			}
			defer release()
			ctx := context.WithValue(c.Request().Context(), slotHeld{}, true)
			c.SetRequest(c.Request().WithContext(store.WithCaller(ctx, store.Caller{Name: slotKey, Rank: callerRank(p)})))
			return next(c)
		}
	}
}

// callerRank is the store.Caller rank of a principal: a backend service (no user) 2, staff 1,
// the apps of patients, carers and Person users 0 (many accounts, self-service).
func callerRank(p policy.Principal) int {
	switch {
	case p.FHIRUser == "":
		return 2
	case strings.HasPrefix(p.FHIRUser, "Practitioner/"), strings.HasPrefix(p.FHIRUser, "PractitionerRole/"):
		return 1
	}
	return 0
}

// slotHeld marks the context of a request holding its principal's concurrency slot; the
// Bundle's search entries, served inside it with its context, take no second slot (with one
// slot they would wait for their own Bundle).
type slotHeld struct{}

// slotWait is how long a request waits for a concurrency slot: maxSlotWait, or nothing when
// maxRateWaiting requests already wait.
func (l *apiLimits) slotWait() time.Duration {
	if l.waiting.Load() >= maxRateWaiting {
		return 0
	}
	return l.maxSlotWait
}

// take takes one request of key from lim, waiting for its turn up to maxRateWait (see there);
// the error is the 429 to answer, or the request's end while it waited.
func (l *apiLimits) take(c echo.Context, lim *ratelimit.Limiter, key, who string) error {
	maxWait := maxRateWait
	if l.waiting.Load() >= maxRateWaiting {
		maxWait = 0
	}
	ok, wait := lim.Reserve(key, l.now(), maxWait)
	if !ok {
		return throttled(wait, who)
	}
	if wait <= 0 {
		return nil
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	return sleep(c.Request().Context(), wait)
}

// isBundle: a batch or transaction, POSTed to the FHIR base.
func isBundle(c echo.Context) bool {
	return c.Request().Method == http.MethodPost && strings.TrimSuffix(c.Path(), "/") == "/fhir"
}

// admitWrites is api.Config.AdmitWrites: a Bundle's writes, for a client acting for a user,
// taken from the same budget as single writes (--rate-limit-writes), all at once. A Bundle with
// more writes than the burst could never pass: it is refused with 413, not 429.
func (l *apiLimits) admitWrites(ctx context.Context, writes int) error {
	p, ok := policy.PrincipalFrom(ctx)
	if !ok || p.FHIRUser == "" || writes == 0 || l.writes == nil {
		return nil
	}
	if burst := l.writes.Burst(); writes > burst {
		return &api.Error{Status: http.StatusRequestEntityTooLarge, Issues: []fhir.Issue{{Severity: "error", Code: "too-costly",
			Diagnostics: fmt.Sprintf("the Bundle holds %d writes; an app acting for a user may send at most %d at once (--rate-limit-writes)", writes, burst)}}}
	}
	ok, wait := l.writes.ReserveN(p.ClientID+"\x00"+p.Subject, l.now(), writes, maxRateWait)
	if !ok {
		return throttled(wait, "this client's writes")
	}
	return sleep(ctx, wait)
}

// admitIndexEntries is api.Config.AdmitIndexEntries: the search index entries of a client's
// writes, for a client acting for a user (--rate-limit-index-entries). The store's single
// writer writes every entry: four patients writing resources of 10,000 entries in a loop
// held another patient's small create 0.5 s (blind attack, round 7). A write of more than the
// burst is charged the burst: it passes on a full budget.
func (l *apiLimits) admitIndexEntries(ctx context.Context, entries int) error {
	p, ok := policy.PrincipalFrom(ctx)
	if !ok || p.FHIRUser == "" || entries == 0 || l.indexEntries == nil {
		return nil
	}
	ok, wait := l.indexEntries.ReserveN(p.ClientID+"\x00"+p.Subject, l.now(), min(entries, l.indexEntries.Burst()), maxRateWait)
	if !ok {
		after := ratelimit.RetryAfter(wait)
		return &api.Error{Status: http.StatusTooManyRequests, Issues: []fhir.Issue{{Severity: "error", Code: "throttled",
			Diagnostics: fmt.Sprintf("this client writes too many search index entries (codes, references, names...) for its user: at most %d a second (--rate-limit-index-entries); retry after %s s", int(l.indexEntries.Rate()), after)}},
			Header: http.Header{"Retry-After": {after}}}
	}
	return sleep(ctx, wait)
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isWrite: the methods that change data (a Bundle POSTed to the base counts once).
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// throttledConcurrency is the 429 of a caller with too many requests in flight.
func throttledConcurrency(slots int) error {
	return &api.Error{
		Status: http.StatusTooManyRequests,
		Issues: []fhir.Issue{{Severity: "error", Code: "throttled",
			Diagnostics: fmt.Sprintf("too many requests at once from this client (at most %d in flight, --client-concurrency); retry when an earlier one has answered", slots)}},
		Header: http.Header{"Retry-After": {"1"}},
	}
}

// throttled is the 429 OperationOutcome (issue code "throttled") with Retry-After.
func throttled(retry time.Duration, who string) error {
	after := ratelimit.RetryAfter(retry)
	return &api.Error{
		Status: http.StatusTooManyRequests,
		Issues: []fhir.Issue{{Severity: "error", Code: "throttled",
			Diagnostics: "too many requests from " + who + "; retry after " + after + " s"}},
		Header: http.Header{"Retry-After": {after}},
	}
}
