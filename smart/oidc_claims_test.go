package smart

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestOIDCFHIRUserRef(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"Practitioner/7", "Practitioner/7", true},
		{"Patient/p1", "Patient/p1", true},
		{"https://ehr.example/fhir/Practitioner/7", "Practitioner/7", true},
		{"https://ehr.example/fhir/RelatedPerson/r-9/", "RelatedPerson/r-9", true},
		{"Practitioner", "", false},
		{"practitioner/7", "", false},
		{"*/7", "", false},
		{"Patient/a b", "", false},
		{"https://ehr.example/fhir/Patient/1?x=y", "", false},
		{"urn:uuid:1234", "", false},
	} {
		got, ok := fhirUserRef(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("fhirUserRef(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	for in, want := range map[string]string{"p1": "p1", "Patient/p1": "p1", "Patient/": "", "Practitioner/7": "", "a/b": ""} {
		got, ok := patientID(in)
		if (want != "") != ok || ok && got != want {
			t.Errorf("patientID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestOIDCScopeClaim(t *testing.T) {
	o := &OIDC{cfg: OIDCConfig{ScopeClaim: defaultScopeClaim}}
	for _, c := range []struct {
		claims string
		want   string
		bad    bool
	}{
		{`{"scope":"patient/*.rs openid"}`, "patient/*.rs openid", false},
		{`{"scp":["patient/*.rs","openid"]}`, "patient/*.rs openid", false},
		{`{"scope":"system/Patient.read","scp":["user/*.*"]}`, "system/Patient.read", false},
		{`{}`, "", false},
		{`{"scope":42}`, "", true},
		{`{"scp":["patient/*.rs user/*.rs"]}`, "", true},
		{`{"scp":[""]}`, "", true},
	} {
		var claims map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.claims), &claims); err != nil {
			t.Fatal(err)
		}
		got, err := o.scopes(claims)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("scopes(%s) = %q, %v; want %q (error: %v)", c.claims, got, err, c.want, c.bad)
		}
	}
	// A configured claim name does not fall back to scp.
	o.cfg.ScopeClaim = "roles"
	if got, _ := o.scopes(map[string]json.RawMessage{"scp": json.RawMessage(`["patient/*.rs"]`)}); got != "" {
		t.Errorf("custom claim fell back to scp: %q", got)
	}
}

// TestOIDCJWKSThrottle: tokens with unknown kids (forged ones) make go-oidc fetch the JWKS
// again each time; at most one fetch per second reaches the provider.
func TestOIDCJWKSThrottle(t *testing.T) {
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}]}`))
	}))
	defer jwks.Close()
	var now atomic.Int64
	now.Store(1_800_000_000)
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	k := newOIDCKeys(jwks.Client(), clock, nil, nil)
	if err := k.init(context.Background(), jwks.URL); err != nil {
		t.Fatal(err)
	}
	// A syntactically valid RS256 JWS whose kid the JWKS does not have.
	forged := "eyJhbGciOiJSUzI1NiIsImtpZCI6InVua25vd24ifQ.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
	for range 20 {
		if _, err := k.VerifySignature(context.Background(), forged); err == nil {
			t.Fatal("a forged token verified")
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches within one second, want 1 (the initial one)", n)
	}
	now.Add(int64(jwksMinInterval / time.Second))
	// go-oidc fetches in a goroutine that callers join; one that has answered but not yet
	// cleared itself can answer a few more calls, so call until the fetch happened (or give up),
	// then many more times: still one fetch per interval.
	for deadline := time.Now().Add(5 * time.Second); fetches.Load() < 2 && time.Now().Before(deadline); {
		_, _ = k.VerifySignature(context.Background(), forged)
		time.Sleep(time.Millisecond)
	}
	for range 20 {
		_, _ = k.VerifySignature(context.Background(), forged)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches, want 2 after the interval passed", n)
	}
}

// TestOIDCJWKSRecheck: a JWKS that changed (a key dropped) replaces the cached keys after
// jwksRecheck; one that cannot be fetched keeps them.
func TestOIDCJWKSRecheck(t *testing.T) {
	var body atomic.Value
	body.Store(`{"keys":[{"kty":"oct","kid":"a"}]}`)
	var down atomic.Bool
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte(body.Load().(string)))
	}))
	defer jwks.Close()
	var mu atomic.Int64
	mu.Store(1_800_000_000)
	clock := func() time.Time { return time.Unix(mu.Load(), 0) }
	changed := make(chan struct{}, 1)
	k := newOIDCKeys(jwks.Client(), clock, func() { changed <- struct{}{} }, nil)
	if err := k.init(context.Background(), jwks.URL); err != nil {
		t.Fatal(err)
	}
	set := func() any { k.mu.Lock(); defer k.mu.Unlock(); return k.set }
	waitChecked := func() {
		t.Helper()
		for range 200 {
			k.mu.Lock()
			done := !k.checking
			k.mu.Unlock()
			if done {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("recheck did not finish")
	}
	first := set()

	// Unchanged JWKS: same set.
	mu.Add(int64(jwksRecheck / time.Second))
	_, _ = k.VerifySignature(context.Background(), "x.y.z")
	waitChecked()
	if set() != first {
		t.Fatal("an unchanged JWKS replaced the keys")
	}
	// Provider down: the keys stay.
	down.Store(true)
	mu.Add(int64(jwksRecheck / time.Second))
	_, _ = k.VerifySignature(context.Background(), "x.y.z")
	waitChecked()
	if set() != first {
		t.Fatal("a failed recheck replaced the keys")
	}
	// Changed: replaced, and the token cache is told.
	down.Store(false)
	body.Store(`{"keys":[{"kty":"oct","kid":"b"}]}`)
	mu.Add(int64(jwksRecheck / time.Second))
	_, _ = k.VerifySignature(context.Background(), "x.y.z")
	waitChecked()
	if set() == first {
		t.Fatal("a changed JWKS did not replace the keys")
	}
	select {
	case <-changed:
	default:
		t.Fatal("onChange was not called")
	}
}
