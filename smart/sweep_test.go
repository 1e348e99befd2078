package smart

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portico-health/portico/store"
)

// TestSweep: expired records of every kind are purged (no version left), live ones stay, and
// a revoked grant stays until every token that could name it has expired.
func TestSweep(t *testing.T) {
	en := newEnv(t)
	ctx := t.Context()
	now := en.now()
	put := func(typ, id string, v any) {
		t.Helper()
		body, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := create(ctx, en.st, typ, id, body, nil); err != nil {
			t.Fatal(err)
		}
	}
	exp := func(d time.Duration) map[string]any {
		return map[string]any{"client_id": "c", "exp": now.Add(d).Unix()}
	}
	put(TypeAuthCode, "code-expired", grant{GrantID: "g1", Expires: now.Add(-time.Minute)})
	put(TypeAuthCode, "code-live", grant{GrantID: "g1", Expires: now.Add(time.Minute)})
	put(TypeRefreshToken, "refresh-expired", grant{GrantID: "g2", Expires: now.Add(-time.Hour)})
	put(TypeRefreshToken, "refresh-used-expired", grant{GrantID: "g2", Expires: now.Add(-time.Hour), Used: true})
	put(TypeRefreshToken, "refresh-live", grant{GrantID: "g2", Expires: now.Add(24 * time.Hour)})
	put(TypeRefreshToken, "refresh-used-live", grant{GrantID: "g2", Expires: now.Add(24 * time.Hour), Used: true}) // kept: reuse detection
	put(TypeRefreshToken, "refresh-of-revoked", grant{GrantID: "g-revoked", Expires: now.Add(24 * time.Hour)})
	put(TypeRevokedGrant, "g-revoked", map[string]any{"client_id": "c"})
	put(TypeJTI, "jti-expired", exp(-time.Minute))
	put(TypeJTI, "jti-in-skew", exp(-clockSkew/2)) // an assertion this old is still accepted
	put(TypeJTI, "jti-live", exp(4*time.Minute))
	put(TypeRevoked, "token-expired", exp(-time.Minute))
	put(TypeRevoked, "token-live", exp(time.Hour))
	put(TypeLaunch, "launch-expired", launchContext{Patient: "p", Expires: now.Add(-time.Minute)})
	put(TypeLaunch, "launch-live", launchContext{Patient: "p", Expires: now.Add(time.Minute)})
	put(TypeClient, "client-untouched", map[string]any{"name": "x"})
	put(TypeJTI, "jti-garbage", "not an object") // not understood: left alone, reported

	n, err := en.srv.Sweep(ctx)
	if err == nil {
		t.Error("a record that does not parse was not reported")
	}
	check := func(when string, gone, kept map[string][]string) {
		t.Helper()
		for typ, ids := range gone {
			for _, id := range ids {
				if _, err := en.st.Read(ctx, typ, id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: %s/%s: %v, want purged", when, typ, id, err)
				}
				if _, err := en.st.VRead(ctx, typ, id, 1); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: %s/%s: version 1 is still in the history: %v", when, typ, id, err)
				}
			}
		}
		for typ, ids := range kept {
			for _, id := range ids {
				if _, err := en.st.Read(ctx, typ, id); err != nil {
					t.Errorf("%s: %s/%s: %v, want kept", when, typ, id, err)
				}
			}
		}
	}
	check("first sweep", map[string][]string{
		TypeAuthCode:     {"code-expired"},
		TypeRefreshToken: {"refresh-expired", "refresh-used-expired", "refresh-of-revoked"},
		TypeJTI:          {"jti-expired"},
		TypeRevoked:      {"token-expired"},
		TypeLaunch:       {"launch-expired"},
	}, map[string][]string{
		TypeAuthCode:     {"code-live"},
		TypeRefreshToken: {"refresh-live", "refresh-used-live"},
		TypeRevokedGrant: {"g-revoked"},
		TypeJTI:          {"jti-in-skew", "jti-live", "jti-garbage"},
		TypeRevoked:      {"token-live"},
		TypeLaunch:       {"launch-live"},
		TypeClient:       {"client-untouched"},
	})
	if n != 7 {
		t.Errorf("first sweep deleted %d, want 7", n)
	}
	if n, _ := en.srv.Sweep(ctx); n != 0 {
		t.Errorf("a second sweep at once deleted %d", n)
	}

	// 91 days on, everything with an expiry has gone, and so has the revoked grant.
	en.advance(91 * 24 * time.Hour)
	if _, err := en.srv.Sweep(ctx); err == nil {
		t.Error("the garbage record was not reported again")
	}
	check("91 days later", map[string][]string{
		TypeAuthCode:     {"code-live"},
		TypeRefreshToken: {"refresh-live", "refresh-used-live"},
		TypeRevokedGrant: {"g-revoked"},
		TypeJTI:          {"jti-in-skew", "jti-live"},
		TypeRevoked:      {"token-live"},
		TypeLaunch:       {"launch-live"},
	}, map[string][]string{TypeClient: {"client-untouched"}, TypeJTI: {"jti-garbage"}})
}

// TestSweepKeepsReplayProtection: sweeping never lets a client assertion be replayed while it
// would still be accepted; once it has expired, its record goes and the assertion is still
// refused, now as expired.
func TestSweepKeepsReplayProtection(t *testing.T) {
	en := newEnv(t)
	b := en.newBackend("system/*.rs", false)
	var jti string
	a := en.assertion(b, false, func(c jwt.MapClaims, _ map[string]any) { jti, _ = c["jti"].(string) })
	if status, _, body := en.backendToken(a, ""); status != http.StatusOK {
		t.Fatalf("first use: %d %v", status, body)
	}
	jtiRecords := func() int {
		page, err := en.st.Search(t.Context(), store.Query{Types: []string{TypeJTI}, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Records)
	}
	en.advance(3 * time.Minute) // the assertion (exp in 4 minutes) is still valid
	if _, err := en.srv.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := jtiRecords(); n != 1 {
		t.Fatalf("the live jti record was swept (%d records)", n)
	}
	if status, _, body := en.backendToken(a, ""); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("replay after a sweep: %d %v", status, body)
	}
	en.advance(2 * time.Minute) // past exp and the clock skew
	if _, err := en.srv.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := jtiRecords(); n != 0 {
		t.Errorf("the expired jti record %s stayed (%d records)", jti, n)
	}
	if status, _, body := en.backendToken(a, ""); status != http.StatusUnauthorized {
		t.Errorf("replay of the expired assertion: %d %v", status, body)
	}
}

// TestSweeperRunsAndStops: New starts the background sweeper at Config.SweepInterval and
// Close stops it.
func TestSweeperRunsAndStops(t *testing.T) {
	en := newEnv(t)
	srv, err := New(Config{Store: en.st, BaseURL: "https://portal.example/fhir", Logger: slog.New(slog.DiscardHandler),
		SweepInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	put := func(id string) {
		body, _ := json.Marshal(launchContext{Patient: "p", Expires: time.Now().Add(-time.Minute)})
		if err := create(t.Context(), en.st, TypeLaunch, id, body, nil); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(id string) bool {
		_, err := en.st.Read(t.Context(), TypeLaunch, id)
		return errors.Is(err, store.ErrNotFound) // purged
	}
	put("l1")
	deadline := time.Now().Add(5 * time.Second)
	for !gone("l1") {
		if time.Now().After(deadline) {
			t.Fatal("the background sweeper did not delete an expired launch")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	_ = srv.Close() // twice is harmless
	put("l2")
	time.Sleep(100 * time.Millisecond)
	if gone("l2") {
		t.Error("the sweeper ran after Close")
	}
}
