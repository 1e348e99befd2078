package smart

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestSignInThrottle drives the sign-in page: five wrong passwords lock the username (429,
// said on the page, Retry-After), even for the right password; the lock grows with each
// further failure and ends; a success clears the count; an unknown username is locked the
// same way, so a lock tells nothing about which usernames exist.
func TestSignInThrottle(t *testing.T) {
	en := newEnv(t)
	a := en.newApp(ClientPublic, "")
	for _, u := range []string{"alice", "bob"} {
		if _, err := en.srv.Registry().CreateUser(t.Context(), u, u+" password", "Patient/p1"); err != nil {
			t.Fatal(err)
		}
	}
	b := en.browser()
	a.cfg.Scopes = patientScopes
	start := b.get(a.cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", en.srv.audience)))
	login, ok := start.form("login")
	if !ok {
		t.Fatalf("no login form: %d %s", start.status, start.body)
	}
	// post submits the login form once and returns the page and its Retry-After.
	post := func(user, password string) (page, string) {
		t.Helper()
		f := form{method: login.method, action: login.action, fields: url2(login.fields)}
		f.fields.Set("username", user)
		f.fields.Set("password", password)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.action, strings.NewReader(f.fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		retry := resp.Header.Get("Retry-After")
		resp.Body.Close()
		return page{status: resp.StatusCode}, retry
	}
	locked := func(what, user, password string) {
		t.Helper()
		p := b.submit(withCreds(login, user, password))
		if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many failed sign-in attempts") || !strings.Contains(p.body, `role="alert"`) {
			t.Errorf("%s: %d, want 429 with the reason: %s", what, p.status, p.body)
		}
		if _, ok := p.form("login"); !ok {
			t.Errorf("%s: the 429 page has no sign-in form", what)
		}
	}
	status := func(user, password string) int { p, _ := post(user, password); return p.status }

	for i := range 5 {
		if s := status("alice", "wrong"); s != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, s)
		}
	}
	locked("right password while locked", "alice", "alice password")
	if _, retry := post("alice", "alice password"); retry == "" {
		t.Error("no Retry-After on 429")
	} else if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 60 {
		t.Errorf("Retry-After %q, want 1..60 seconds", retry)
	}
	if s := status("bob", "bob password"); s != http.StatusOK && s != http.StatusSeeOther {
		t.Errorf("another user from the same address: %d", s)
	}

	en.advance(61 * time.Second)
	if s := status("alice", "wrong"); s != http.StatusUnauthorized { // the sixth failure: 2 minutes
		t.Fatalf("after the first lock: %d", s)
	}
	en.advance(61 * time.Second)
	locked("the lock grows", "alice", "alice password")
	en.advance(61 * time.Second)
	if s := status("alice", "alice password"); s != http.StatusOK && s != http.StatusSeeOther {
		t.Fatalf("after the lock: %d", s)
	}
	// The success cleared the count: four failures lock nothing.
	for range 4 {
		status("alice", "wrong")
	}
	if s := status("alice", "alice password"); s != http.StatusOK && s != http.StatusSeeOther {
		t.Errorf("after a success and four failures: %d", s)
	}

	// Spellings that sign-in reads as the same user count as that user (blind attack, round 8:
	// " alice" and "Alice" each had five tries of their own).
	en.advance(10 * time.Minute)
	for i, spelling := range []string{"alice", " alice", "Alice", "ALICE ", "alice  "} {
		if s := status(spelling, "wrong"); s != http.StatusUnauthorized {
			t.Fatalf("wrong password %d (%q): %d", i+1, spelling, s)
		}
	}
	locked("another spelling of a locked username", "aLiCe", "alice password")
	en.advance(10 * time.Minute)

	// An unknown username locks after the same number of failures.
	for range 5 {
		if s := status("nobody", "x"); s != http.StatusUnauthorized {
			t.Fatalf("unknown user: %d", s)
		}
	}
	locked("unknown user", "nobody", "x")
}

func url2(v map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func withCreds(f form, user, password string) form {
	f.fields = url2(f.fields)
	f.fields.Set("username", user)
	f.fields.Set("password", password)
	return f
}

// fail counts one failed attempt, if one may start; wait tells how long attempts are refused.
func fail(th *loginThrottle, user, addr string) {
	if done, _ := th.begin(user, addr); done != nil {
		done(attemptFailed)
	}
}

func waitFor(th *loginThrottle, user, addr string) time.Duration {
	done, w := th.begin(user, addr)
	if done != nil {
		done(attemptVoid)
	}
	return w
}

// TestLoginThrottleAddress: failures from one address lock it for every username; a success
// does not clear the address's count; a username locked from one address is not locked from
// another; the tracked entries stay bounded and locks in force are never evicted.
func TestLoginThrottleAddress(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newLoginThrottle(func() time.Time { return now })
	for i := range loginAddrLimit {
		if waitFor(th, "user"+strconv.Itoa(i), "10.0.0.1") > 0 {
			t.Fatalf("locked after %d failures", i)
		}
		fail(th, "user"+strconv.Itoa(i), "10.0.0.1")
	}
	if w := waitFor(th, "someone-else", "10.0.0.1"); w <= 0 || w > loginFirstDelay {
		t.Errorf("address after %d failures: wait %v", loginAddrLimit, w)
	}
	if w := waitFor(th, "someone-else", "10.0.0.2"); w != 0 {
		t.Errorf("another address: wait %v", w)
	}
	// The username is locked from where it failed, not from everywhere.
	for range loginUserLimit {
		fail(th, "carol", "10.0.0.3")
	}
	if waitFor(th, "carol", "10.0.0.3") == 0 || waitFor(th, "carol", "10.0.0.4") != 0 {
		t.Error("carol should be locked from 10.0.0.3 only")
	}
	// Delays double and are capped.
	th2 := newLoginThrottle(func() time.Time { return now })
	var waits []time.Duration
	for range loginUserLimit + 10 {
		fail(th2, "carol", "a")
		w := waitFor(th2, "carol", "a")
		waits = append(waits, w)
		now = now.Add(w)
	}
	if waits[loginUserLimit-2] != 0 || waits[loginUserLimit-1] != loginFirstDelay || waits[loginUserLimit] != 2*loginFirstDelay ||
		waits[len(waits)-1] != loginMaxDelay {
		t.Errorf("waits %v", waits)
	}
	// A success clears the username's count and refunds the address's, never below the
	// failures before it.
	th5 := newLoginThrottle(func() time.Time { return now })
	for range loginUserLimit - 1 {
		fail(th5, "erin", "b")
	}
	done, _ := th5.begin("erin", "b")
	done(attemptSucceeded)
	if f := th5.users[userKey("erin", "b")]; f != nil {
		t.Errorf("a success left the username's count %d", f.n)
	}
	if f := th5.addrs["b"]; f.n != loginUserLimit-1 {
		t.Errorf("address count %d after a success, want %d", f.n, loginUserLimit-1)
	}
	// Old failures are forgotten.
	th3 := newLoginThrottle(func() time.Time { return now })
	for range loginUserLimit - 1 {
		fail(th3, "dave", "a")
	}
	now = now.Add(loginWindow + time.Second)
	fail(th3, "dave", "a")
	if w := waitFor(th3, "dave", "a"); w != 0 {
		t.Errorf("failures older than the window still count: wait %v", w)
	}
	// Bounded memory under made-up usernames, without forgetting a lock.
	th4 := newLoginThrottle(func() time.Time { return now })
	th4.maxTracked = 100
	for range loginUserLimit {
		fail(th4, "victim", "x")
	}
	for i := range 1000 {
		fail(th4, "made-up-"+strconv.Itoa(i), strconv.Itoa(i))
	}
	if len(th4.users) > 100 || len(th4.addrs) > 100 {
		t.Errorf("tracked %d users, %d addresses", len(th4.users), len(th4.addrs))
	}
	if waitFor(th4, "victim", "x") == 0 {
		t.Error("a lock in force was evicted")
	}
}

// TestCheckPasswordUnknownUserTiming: an unknown username costs a password hash like a known
// one, so response times do not tell which usernames exist.
func TestCheckPasswordUnknownUserTiming(t *testing.T) {
	en := newEnv(t)
	reg := en.srv.Registry()
	if _, err := reg.CreateUser(t.Context(), "erin", "erin password", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	dummyHash() // computed once, outside the measurement
	median := func(user string) time.Duration {
		var ds []time.Duration
		for range 5 {
			start := time.Now()
			if _, err := reg.CheckPassword(t.Context(), user, "wrong"); err == nil {
				t.Fatal("accepted")
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[2]
	}
	known, unknown := median("erin"), median("nobody-by-that-name")
	// A lookup alone takes well under a millisecond; an argon2id check tens of milliseconds.
	if unknown < known/3 {
		t.Errorf("unknown user %v, known user %v: the unknown user is answered without hashing", unknown, known)
	}
}
