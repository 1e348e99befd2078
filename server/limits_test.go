package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// TestAPIRateLimits: the FHIR API's limits per client address (before authentication, the
// CapabilityStatement included), per client and user, and per client and user for writes,
// each a 429 OperationOutcome (throttled) with Retry-After, each leaving the others' budgets
// alone. The rates are low enough (one request in two seconds, bursts of one) that the test
// cannot race the refill.
func TestAPIRateLimits(t *testing.T) {
	type answer struct {
		status int
		retry  string
		code   string
	}
	const observation = `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p-alice"}}`
	// sendBody sends body (none when "") to path from the address from.
	sendBody := func(en *authEnv, method, path, bearer, from, body string) answer {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(t.Context(), method, strings.TrimSuffix(en.base, "/fhir")+path, r)
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("X-Forwarded-For", from)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var oo struct {
			Issue []struct{ Code string } `json:"issue"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&oo)
		a := answer{status: resp.StatusCode, retry: resp.Header.Get("Retry-After")}
		if len(oo.Issue) > 0 {
			a.code = oo.Issue[0].Code
		}
		return a
	}
	// send sends a request without a body, or a POST of an Observation of p-alice.
	send := func(en *authEnv, method, path, bearer, from string) answer {
		t.Helper()
		body := ""
		if method == http.MethodPost {
			body = observation
		}
		return sendBody(en, method, path, bearer, from, body)
	}
	throttled := func(a answer) bool {
		n, err := strconv.Atoi(a.retry)
		return a.status == http.StatusTooManyRequests && a.code == "throttled" && err == nil && n >= 1
	}
	trusted := func(c *Config) { c.TrustedProxies = "127.0.0.1,::1" } // X-Forwarded-For names the client

	t.Run("address", func(t *testing.T) {
		en := newAuthEnvWith(t, func(c *Config) { trusted(c); c.RateLimitAddress = 0.5 })
		if a := send(en, http.MethodGet, "/fhir/Patient", "", "198.51.100.1"); a.status != http.StatusUnauthorized {
			t.Fatalf("first request without a token: %+v, want 401", a)
		}
		if a := send(en, http.MethodGet, "/fhir/Patient", "", "198.51.100.1"); !throttled(a) {
			t.Errorf("second request from the address: %+v, want 429 throttled with Retry-After", a)
		}
		if a := send(en, http.MethodGet, "/fhir/metadata", "", "198.51.100.1"); !throttled(a) {
			t.Errorf("the CapabilityStatement from the address: %+v, want 429", a)
		}
		if a := send(en, http.MethodGet, "/fhir/metadata", "", "203.0.113.7"); a.status != http.StatusOK {
			t.Errorf("another address: %+v, want 200", a)
		}
		if a := send(en, http.MethodGet, "/readyz", "", "198.51.100.1"); a.status != http.StatusOK {
			t.Errorf("/readyz is not the API's: %+v, want 200", a)
		}
	})

	t.Run("client", func(t *testing.T) {
		en := newAuthEnvWith(t, func(c *Config) { trusted(c); c.RateLimitClient = 0.5 })
		one, two := en.systemToken("system/*.rs"), en.systemToken("system/*.rs")
		if a := send(en, http.MethodGet, "/fhir/Patient", one, "192.0.2.1"); a.status != http.StatusOK {
			t.Fatalf("first search: %+v", a)
		}
		if a := send(en, http.MethodGet, "/fhir/Patient", one, "192.0.2.2"); !throttled(a) {
			t.Errorf("the same client from another address: %+v, want 429 throttled", a)
		}
		if a := send(en, http.MethodGet, "/fhir/Patient", two, "192.0.2.1"); a.status != http.StatusOK {
			t.Errorf("another client: %+v, want 200", a)
		}
		// A patient's app: one budget per user of the same app.
		alice, bob := en.patientToken("p-alice", "launch/patient patient/*.rs"), en.patientToken("p-bob", "launch/patient patient/*.rs")
		send(en, http.MethodGet, "/fhir/Patient/p-alice", alice, "192.0.2.3")
		if a := send(en, http.MethodGet, "/fhir/Patient/p-alice", alice, "192.0.2.3"); !throttled(a) {
			t.Errorf("alice's second read: %+v, want 429", a)
		}
		if a := send(en, http.MethodGet, "/fhir/Patient/p-bob", bob, "192.0.2.3"); a.status == http.StatusTooManyRequests {
			t.Errorf("bob was limited by alice's reads: %+v", a)
		}
	})

	t.Run("writes", func(t *testing.T) {
		en := newAuthEnvWith(t, func(c *Config) { trusted(c); c.RateLimitWrites = 0.5 })
		tok := en.patientToken("p-alice", "launch/patient patient/*.cruds")
		if a := send(en, http.MethodPost, "/fhir/Observation", tok, "192.0.2.1"); a.status != http.StatusCreated {
			t.Fatalf("first create: %+v", a)
		}
		if a := send(en, http.MethodPost, "/fhir/Observation", tok, "192.0.2.1"); !throttled(a) {
			t.Errorf("second create: %+v, want 429 throttled", a)
		}
		if a := send(en, http.MethodGet, "/fhir/Observation", tok, "192.0.2.1"); a.status != http.StatusOK {
			t.Errorf("a search after the writes were limited: %+v, want 200", a)
		}
		// A backend service's writes are limited by its request budget only.
		sys := en.systemToken("system/*.cruds")
		for i := range 5 {
			if a := send(en, http.MethodPost, "/fhir/Observation", sys, "192.0.2.1"); a.status != http.StatusCreated {
				t.Fatalf("backend create %d: %+v", i+1, a)
			}
		}
	})

	t.Run("a Bundle's writes count one by one", func(t *testing.T) {
		en := newAuthEnvWith(t, func(c *Config) { trusted(c); c.RateLimitWrites = 5 }) // bursts of 10
		tok := en.patientToken("p-alice", "launch/patient patient/*.cruds")
		batch := func(n int) answer {
			entry := `{"resource":` + observation + `,"request":{"method":"POST","url":"Observation"}}`
			return sendBody(en, http.MethodPost, "/fhir", tok, "192.0.2.1",
				`{"resourceType":"Bundle","type":"batch","entry":[`+strings.TrimSuffix(strings.Repeat(entry+",", n), ",")+`]}`)
		}
		if a := batch(11); a.status != http.StatusRequestEntityTooLarge {
			t.Errorf("a batch of 11 creates past a burst of 10: %+v, want 413", a)
		}
		if a := batch(10); a.status != http.StatusOK {
			t.Fatalf("a batch of 10 creates: %+v, want 200", a)
		}
		if a := batch(10); !throttled(a) {
			t.Errorf("a second batch of 10 at once: %+v, want 429 throttled", a)
		}
	})

	t.Run("index entries", func(t *testing.T) {
		en := newAuthEnvWith(t, func(c *Config) { trusted(c); c.RateLimitWrites = 0; c.RateLimitIndexEntries = 100 }) // bursts of 200
		codings := func(n int) string {
			var b strings.Builder
			for i := range n {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `{"system":"urn:test","code":"c%d"}`, i)
			}
			return b.String()
		}
		coded := func(patient string, n int) string {
			return `{"resourceType":"Observation","status":"final","code":{"coding":[` + codings(n) + `]},"subject":{"reference":"Patient/` + patient + `"}}`
		}
		alice := en.patientToken("p-alice", "launch/patient patient/*.cruds")
		if a := sendBody(en, http.MethodPost, "/fhir/Observation", alice, "192.0.2.1", coded("p-alice", 300)); a.status != http.StatusCreated {
			t.Fatalf("a resource of more entries than the burst, on a full budget: %+v, want 201", a)
		}
		if a := sendBody(en, http.MethodPost, "/fhir/Observation", alice, "192.0.2.1", coded("p-alice", 300)); !throttled(a) {
			t.Errorf("the same at once: %+v, want 429 throttled", a)
		}
		if a := send(en, http.MethodPost, "/fhir/Observation", alice, "192.0.2.1"); a.status != http.StatusCreated {
			t.Errorf("a small create after it: %+v, want 201 (a few entries wait a few ms)", a)
		}
		// A transaction counts all its entries; another user's budget is its own.
		bob := en.patientToken("p-bob", "launch/patient patient/*.cruds")
		entry := `{"resource":` + coded("p-bob", 60) + `,"request":{"method":"POST","url":"Observation"}}`
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[` + entry + "," + entry + "," + entry + `]}`
		if a := sendBody(en, http.MethodPost, "/fhir", bob, "192.0.2.1", tx); a.status != http.StatusOK {
			t.Fatalf("bob's first transaction: %+v, want 200", a)
		}
		if a := sendBody(en, http.MethodPost, "/fhir", bob, "192.0.2.1", tx); !throttled(a) {
			t.Errorf("bob's second transaction at once: %+v, want 429 throttled", a)
		}
		// A backend service is held by its request budget only.
		sys := en.systemToken("system/*.cruds")
		for i := range 3 {
			if a := sendBody(en, http.MethodPost, "/fhir/Observation", sys, "192.0.2.1", coded("p-alice", 300)); a.status != http.StatusCreated {
				t.Fatalf("backend create %d: %+v", i+1, a)
			}
		}
	})

	t.Run("sequential clients wait, floods are refused", func(t *testing.T) {
		en := newAuthEnvWith(t, func(c *Config) { trusted(c); c.RateLimitClient = 5 }) // bursts of 10
		tok := en.systemToken("system/*.rs")
		start := time.Now()
		for i := range 15 {
			if a := send(en, http.MethodGet, "/fhir/Patient", tok, "192.0.2.1"); a.status != http.StatusOK {
				t.Fatalf("sequential request %d: %+v, want 200 (slowed, not refused)", i+1, a)
			}
		}
		// Five requests past the burst of ten, at five per second, cannot take less than ~1 s.
		if d := time.Since(start); d < 800*time.Millisecond {
			t.Errorf("15 sequential requests at 5/s took %v: the limit did not slow them", d)
		}
		other := en.systemToken("system/*.rs")
		var refused atomic.Int32
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				if a := send(en, http.MethodGet, "/fhir/Patient", other, "192.0.2.1"); throttled(a) {
					refused.Add(1)
				}
			})
		}
		wg.Wait()
		// 10 in the burst and at most ~5 queued within a second pass; the rest are refused.
		if n := refused.Load(); n < 20 {
			t.Errorf("40 requests at once at 5/s: %d refused, want at least 20", n)
		}
	})

	t.Run("off", func(t *testing.T) {
		en := newAuthEnvWith(t, func(c *Config) {
			trusted(c)
			c.RateLimitAddress, c.RateLimitClient, c.RateLimitWrites, c.RateLimitIndexEntries = 0, 0, 0, 0
		})
		tok := en.patientToken("p-alice", "launch/patient patient/*.cruds")
		for i := range 50 {
			if a := send(en, http.MethodPost, "/fhir/Observation", tok, "192.0.2.1"); a.status != http.StatusCreated {
				t.Fatalf("create %d with the limits off: %+v", i+1, a)
			}
		}
	})
}

// TestRateLimitDefaults: the client and write limits are on by default, the address limit
// off (a trap behind an unlisted proxy); the values are checked at start.
func TestRateLimitDefaults(t *testing.T) {
	d := Defaults()
	if d.RateLimitAddress != 0 || d.RateLimitClient <= 0 || d.RateLimitWrites <= 0 {
		t.Errorf("default limits %v %v %v: want the address limit off, the others on", d.RateLimitAddress, d.RateLimitClient, d.RateLimitWrites)
	}
	if d.ClientConcurrency < 1 {
		t.Errorf("default client concurrency %d: want a limit", d.ClientConcurrency)
	}
	d.RateLimitWrites = -1
	d.RateLimitIndexEntries = -1
	d.MaxBundleEntries = 1_000_000
	d.ClientConcurrency = -1
	err := d.Validate()
	if err == nil || !strings.Contains(err.Error(), "rate-limit-writes") || !strings.Contains(err.Error(), "rate-limit-index-entries") || !strings.Contains(err.Error(), "max-bundle-entries") || !strings.Contains(err.Error(), "client-concurrency") {
		t.Errorf("Validate: %v; want rate-limit-writes and max-bundle-entries refused", err)
	}
}

// TestBundleEntriesKeepTheClient: the search entries of a batch run as requests of the
// Bundle's client: the request log and the address limit see its address, not the in-process
// request's 192.0.2.1 shared by everyone's Bundles (the blind review's
// bundle_shared_address_bucket).
func TestBundleEntriesKeepTheClient(t *testing.T) {
	logs := &lockedBuffer{}
	en := newAuthEnvLog(t, slog.New(slog.NewJSONHandler(logs, nil)), func(c *Config) { c.TrustedProxies = "127.0.0.1,::1" })
	tok := en.systemToken("system/*.rs")
	body := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?name=x"}},{"request":{"method":"GET","url":"Observation"}}]}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, en.base, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Forwarded-For", "198.51.100.44")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %d", resp.StatusCode)
	}
	entries := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var l struct {
			Msg, Path, Client string
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "request" || !strings.HasPrefix(l.Path, "/fhir/") {
			continue
		}
		entries++
		if l.Client != "198.51.100.44" {
			t.Errorf("the entry %s was logged from %q, want the Bundle's client 198.51.100.44", l.Path, l.Client)
		}
	}
	if entries != 2 {
		t.Errorf("%d entry requests logged, want 2", entries)
	}
}

// TestClientConcurrency: one client acting for one user has at most --client-concurrency
// requests in flight; the others wait for a slot (then 429), while other callers are served;
// a Bundle's search entries run inside the Bundle's slot (with one slot, they would otherwise
// wait for their own Bundle).
func TestClientConcurrency(t *testing.T) {
	t.Run("slots per principal", func(t *testing.T) {
		l := Config{ClientConcurrency: 2}.apiLimits()
		l.maxSlotWait = 300 * time.Millisecond
		var inFlight, most atomic.Int32
		release := make(chan struct{})
		e := echo.New()
		e.HTTPErrorHandler = func(err error, c echo.Context) {
			var ae *api.Error
			if errors.As(err, &ae) {
				_ = c.NoContent(ae.Status)
				return
			}
			_ = c.NoContent(http.StatusInternalServerError)
		}
		asUser := func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				client := c.Request().Header.Get("X-Client")
				if client == "" {
					client = "app"
				}
				p := policy.Principal{ClientID: client, Subject: c.Request().Header.Get("X-User"), FHIRUser: "Patient/" + c.Request().Header.Get("X-User")}
				c.SetRequest(c.Request().WithContext(policy.WithPrincipal(c.Request().Context(), p)))
				return next(c)
			}
		}
		var callers sync.Map // X-User/X-Client → the caller the store is told
		e.GET("/fhir/Patient", func(c echo.Context) error {
			callers.Store(c.Request().Header.Get("X-User")+"/"+c.Request().Header.Get("X-Client"), store.CallerOf(c.Request().Context()).Name)
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			if c.Request().Header.Get("X-User") == "alice" {
				<-release
			}
			return c.NoContent(http.StatusOK)
		}, asUser, l.byPrincipal())
		srv := httptest.NewServer(e)
		defer srv.Close()
		get := func(user string, client ...string) int {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/fhir/Patient", nil)
			req.Header.Set("X-User", user)
			if len(client) > 0 {
				req.Header.Set("X-Client", client[0])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return 0
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		statuses := make(chan int, 5)
		for range 5 {
			go func() { statuses <- get("alice") }()
		}
		// Three of alice's five wait for her two slots, and are refused after the wait.
		refused := 0
		for range 3 {
			if s := <-statuses; s == http.StatusTooManyRequests {
				refused++
			}
		}
		if refused != 3 {
			t.Errorf("%d of alice's three extra requests refused, want 3", refused)
		}
		if s := get("bob"); s != http.StatusOK {
			t.Errorf("bob, while alice's slots are full: %d, want 200", s)
		}
		// Alice's second app shares her slots: it waits, and is refused after the wait.
		if s := get("alice", "app2"); s != http.StatusTooManyRequests {
			t.Errorf("alice's second app, while her slots are full: %d, want 429", s)
		}
		close(release)
		for range 2 {
			if s := <-statuses; s != http.StatusOK {
				t.Errorf("alice's request in a slot: %d, want 200", s)
			}
		}
		if m := most.Load(); m != 3 { // alice's two and bob's one
			t.Errorf("%d requests in flight at most, want 3", m)
		}
		if get("alice") != http.StatusOK {
			t.Error("alice after her requests ended: refused")
		}
		// The store shares its search connections by the same caller (store.WithCaller):
		// one for alice over her apps, another for bob.
		if get("alice", "app2") != http.StatusOK {
			t.Error("alice's second app after her requests ended: refused")
		}
		a1, _ := callers.Load("alice/")
		a2, _ := callers.Load("alice/app2")
		b, _ := callers.Load("bob/")
		if a1 == "" || a1 != a2 || a1 == b || b == "" {
			t.Errorf("callers told to the store: alice %q, alice's second app %q, bob %q: want alice's the same, bob's another", a1, a2, b)
		}
	})

	t.Run("one slot, a Bundle's searches and parallel requests", func(t *testing.T) {
		en := newAuthEnvWith(t, func(c *Config) { c.ClientConcurrency = 1 })
		tok := en.systemToken("system/*.rs")
		body := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?name=x"}},{"request":{"method":"GET","url":"Observation"}}]}`
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, en.base, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Contains(string(out), `"429`) || time.Since(start) > 3*time.Second {
			t.Errorf("batch of searches with one slot: %d in %v: %s", resp.StatusCode, time.Since(start), out)
		}
		var wg sync.WaitGroup
		var failed atomic.Int32
		for range 6 {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, en.base+"/Patient", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				if err == nil {
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		if failed.Load() > 0 {
			t.Errorf("%d of 6 parallel quick searches of one client failed with one slot: they should wait their turn", failed.Load())
		}
	})
}

// TestCallerRank: the store is told which callers' long searches may be stopped for whose
// (store.Caller): patients' and carers' apps rank lowest, staff above, backend services highest.
func TestCallerRank(t *testing.T) {
	for _, tc := range []struct {
		fhirUser string
		want     int
	}{
		{"Patient/p1", 0}, {"RelatedPerson/r1", 0}, {"Person/x", 0},
		{"Practitioner/dr", 1}, {"PractitionerRole/role", 1},
		{"", 2},
	} {
		if got := callerRank(policy.Principal{ClientID: "app", Subject: "u", FHIRUser: tc.fhirUser}); got != tc.want {
			t.Errorf("callerRank(%q) = %d, want %d", tc.fhirUser, got, tc.want)
		}
	}
}
