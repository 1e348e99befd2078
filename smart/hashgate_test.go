package smart

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/clientaddr"
	"golang.org/x/oauth2"
)

// TestPasswordHashCap: a burst of password checks runs at most DefaultPasswordHashes argon2id
// hashes at once; the checks that find every slot and the short queue taken get ErrBusy at
// once, without hashing.
func TestPasswordHashCap(t *testing.T) {
	en := newEnv(t)
	var wg sync.WaitGroup
	errs := make([]error, 24)
	for i := range errs {
		wg.Go(func() { _, errs[i] = en.srv.Registry().CheckPassword(t.Context(), "nobody", "guess") })
	}
	wg.Wait()
	busy := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, ErrBusy):
			busy++
		case errors.Is(err, ErrBadPassword):
		default:
			t.Errorf("check %d: %v, want ErrBadPassword or ErrBusy", i, err)
		}
	}
	if p := en.srv.registry.hashes.peak.Load(); p > DefaultPasswordHashes {
		t.Errorf("%d hashes ran at once, want at most %d", p, DefaultPasswordHashes)
	}
	if busy == 0 {
		t.Error("no check was turned away: the burst was not bounded")
	}
}

// TestClientSecretsTakeNoHashSlot: client secrets (made by Portico, 32 random bytes) are
// checked by their SHA-256, outside the password-hashing slots: a burst of wrong client
// secrets, from known and unknown client ids, hashes nothing and is refused with 401, never
// 503 (ten addresses sending them kept sign-ins out, blind attack round 8); the right secret
// works; a secret hashed with argon2id by an earlier version still works and is rehashed.
func TestClientSecretsTakeNoHashSlot(t *testing.T) {
	en := newEnv(t)
	app := en.newApp(ClientConfidential, "")
	token := func(id, secret string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, en.ts.URL+"/auth/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		var body struct{ Error string }
		_ = jsonDecode(resp, &body)
		return resp.StatusCode, body.Error
	}
	var wg sync.WaitGroup
	statuses := make([]int, 24)
	for i := range statuses {
		wg.Go(func() {
			id := "nobody"
			if i%2 == 0 {
				id = app.client.ID
			}
			statuses[i], _ = token(id, "guess")
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusUnauthorized {
			t.Errorf("wrong secret %d: %d, want 401", i, s)
		}
	}
	if p := en.srv.registry.hashes.peak.Load(); p != 0 {
		t.Errorf("%d password hashes ran for client secrets", p)
	}
	if s, e := token(app.client.ID, app.cfg.ClientSecret); e == "invalid_client" || s == http.StatusUnauthorized {
		t.Errorf("the right secret: %d %s", s, e)
	}

	// A secret stored by an earlier version, hashed with argon2id.
	legacy, err := HashSecret("an old secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := en.srv.registry.updateClient(t.Context(), app.client.ID, func(c *Client) error { c.SecretHash = legacy; return nil }); err != nil {
		t.Fatal(err)
	}
	if s, e := token(app.client.ID, "an old secret"); e == "invalid_client" || s == http.StatusUnauthorized {
		t.Errorf("an argon2id secret of an earlier version: %d %s", s, e)
	}
	c, err := en.srv.registry.Client(t.Context(), app.client.ID)
	if err != nil || !strings.HasPrefix(c.SecretHash, clientSecretPrefix) {
		t.Errorf("after its first use the old secret is hashed %q, want SHA-256 (%v)", c.SecretHash[:min(12, len(c.SecretHash))], err)
	}
	if s, e := token(app.client.ID, "an old secret"); e == "invalid_client" || s == http.StatusUnauthorized {
		t.Errorf("the old secret after its rehash: %d %s", s, e)
	}
}

// TestConcurrentWrongPasswords: sixteen wrong passwords sent at once for one user are counted
// before hashing, so only the five the limit allows are checked and the rest get 429; the
// user, locked from that address, still signs in from another. (Enough hashing slots that the
// gate's share per address, TestHashGateShare, lets the sixteen through to the throttle.)
func TestConcurrentWrongPasswords(t *testing.T) {
	en := newEnvConfig(t, t.TempDir(), func(c *Config) { c.PasswordHashes = 32 })
	a := en.newApp(ClientPublic, "")
	if _, err := en.srv.Registry().CreateUser(t.Context(), "alice", "alice password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	b := en.browser()
	a.cfg.Scopes = patientScopes
	start := b.get(a.cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", en.srv.audience)))
	login, ok := start.form("login")
	if !ok {
		t.Fatalf("no login form: %d", start.status)
	}
	post := func(password, from string) int {
		f := withCreds(login, "alice", password)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.action, strings.NewReader(f.fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := b.c.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	for range 16 {
		wg.Go(func() {
			s := post("wrong", "198.51.100.1")
			mu.Lock()
			counts[s]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[http.StatusUnauthorized] != loginUserLimit || counts[http.StatusTooManyRequests] != 16-loginUserLimit {
		t.Errorf("statuses %v, want %d checked (401) and %d refused (429)", counts, loginUserLimit, 16-loginUserLimit)
	}
	if s := post("alice password", "198.51.100.1"); s != http.StatusTooManyRequests {
		t.Errorf("right password from the locked address: %d", s)
	}
	if s := post("alice password", "198.51.100.2"); s != http.StatusOK {
		t.Errorf("right password from another address: %d, want 200: nobody may lock a user out from everywhere", s)
	}
}

// TestHashGateShare: one client address may hold at most half the hashing slots (running or
// waiting), so that wrong secrets sent from one address, even within its rate limit, cannot
// keep every slot busy: another address still gets a slot at once.
func TestHashGateShare(t *testing.T) {
	g := newHashGate(2)
	attacker := clientaddr.New(nil).NewContext(t.Context(), &http.Request{RemoteAddr: "198.51.100.7:4000"})
	victim := clientaddr.New(nil).NewContext(t.Context(), &http.Request{RemoteAddr: "203.0.113.9:4000"})
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_ = g.do(attacker, func() { close(started); <-release })
	}()
	<-started
	if err := g.do(attacker, func() {}); err != ErrBusy {
		t.Errorf("a second check from the same address while one runs: %v, want ErrBusy", err)
	}
	done := make(chan error, 1)
	go func() { done <- g.do(victim, func() {}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("another address: %v", err)
		}
	case <-time.After(time.Second):
		t.Error("another address waited for the attacker's check")
	}
	close(release)
}
