package smart

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRateLimits: the token and introspection endpoints take a burst of twice the rate per
// client address and per authenticated client, then answer 429 with Retry-After; another
// address, and another client, are not affected; the bucket refills with time; a client_id
// written by someone else does not spend that client's budget.
func TestRateLimits(t *testing.T) {
	en := newEnvConfig(t, t.TempDir(), func(c *Config) { c.RateLimit = 2 }) // bursts of 4
	send := func(path, from string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, en.ts.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := en.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	junk := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"nobody"}}
	for _, path := range []string{"/auth/token", "/auth/introspect"} {
		from := "198.51.100." + strconv.Itoa(len(path))
		for i := range 4 {
			if s, _ := send(path, from, junk); s == http.StatusTooManyRequests {
				t.Fatalf("%s: request %d of the burst refused", path, i+1)
			}
		}
		s, retry := send(path, from, junk)
		if n, err := strconv.Atoi(retry); s != http.StatusTooManyRequests || err != nil || n < 1 {
			t.Errorf("%s past the burst: %d, Retry-After %q; want 429 with Retry-After", path, s, retry)
		}
		if s, _ := send(path, "203.0.113.9", junk); s == http.StatusTooManyRequests {
			t.Errorf("%s: another address was limited", path)
		}
	}
	en.advance(time.Second) // two more requests' worth
	if s, _ := send("/auth/token", "198.51.100.11", junk); s == http.StatusTooManyRequests {
		t.Error("the address's bucket did not refill")
	}

	// Per client: one backend client from many addresses, each request authenticated.
	b := en.newBackend("system/*.rs", false)
	other := en.newBackend("system/*.rs", false)
	token := func(c backend, i int) int {
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearerAssertion},
			"client_assertion": {en.assertion(c, false, nil)}}
		s, _ := send("/auth/token", "192.0.2."+strconv.Itoa(i), form)
		return s
	}
	for i := range 4 {
		if s := token(b, i); s != http.StatusOK {
			t.Fatalf("client request %d: %d", i+1, s)
		}
	}
	if s := token(b, 50); s != http.StatusTooManyRequests {
		t.Errorf("the client past its burst, from a new address: %d, want 429", s)
	}
	if s := token(other, 51); s != http.StatusOK {
		t.Errorf("another client: %d", s)
	}
	// Claiming the other client's id without its credentials spends nothing of its budget.
	for i := range 8 {
		send("/auth/token", "192.0.2."+strconv.Itoa(100+i), url.Values{"grant_type": {"client_credentials"}, "client_id": {other.client.ID}})
	}
	for i := range 3 {
		if s := token(other, 120+i); s != http.StatusOK {
			t.Errorf("the other client after requests claiming its id: %d", s)
		}
	}
}
