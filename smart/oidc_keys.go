package smart

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

const (
	// jwksMinInterval: a token with an unknown kid makes go-oidc fetch the JWKS again (that is
	// how a provider's new key is picked up). At most one fetch per interval reaches the
	// provider; the others get the last answer, so forged tokens cannot make Portico hammer it.
	jwksMinInterval = time.Second
	// jwksRecheck: go-oidc keeps a key for as long as tokens verify with it, even after the
	// provider dropped it from its JWKS (say, after a compromise). The JWKS is rechecked this
	// often and the cached keys are replaced when it changed.
	jwksRecheck  = 5 * time.Minute
	maxJWKSBytes = 1 << 20
)

// oidcKeys is the provider's key set: go-oidc's RemoteKeySet (fetching, caching, refetching
// for an unknown kid) behind a throttled transport, replaced when a recheck finds the JWKS
// changed. It implements oidc.KeySet.
type oidcKeys struct {
	throttle *jwksThrottle
	client   *http.Client
	now      func() time.Time
	onChange func() // called after the keys were replaced (forget cached tokens)
	log      *slog.Logger

	mu       sync.Mutex
	url      string
	set      *oidc.RemoteKeySet
	hash     [sha256.Size]byte
	checked  time.Time
	checking bool
}

func newOIDCKeys(base *http.Client, now func() time.Time, onChange func(), log *slog.Logger) *oidcKeys {
	next := base.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	t := &jwksThrottle{next: next, now: now}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &oidcKeys{
		throttle: t,
		client:   &http.Client{Timeout: base.Timeout, Transport: t, CheckRedirect: base.CheckRedirect},
		now:      now, onChange: onChange, log: log,
	}
}

// init fetches the JWKS at url (it must be a JSON key set) and starts a key set on it.
func (k *oidcKeys) init(ctx context.Context, url string) error {
	body, err := k.fetch(ctx, url, true)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.url, k.hash, k.checked = url, sha256.Sum256(body), k.now()
	k.set = oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), k.client), url)
	return nil
}

// fetch GETs the JWKS through the throttle (force: a fresh answer) and checks it is one.
func (k *oidcKeys) fetch(ctx context.Context, url string, force bool) ([]byte, error) {
	if force {
		k.throttle.forget()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS %s: HTTP %d", url, resp.StatusCode)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		return nil, fmt.Errorf("JWKS %s: not a JSON Web Key Set with keys", url)
	}
	return body, nil
}

// VerifySignature implements oidc.KeySet.
func (k *oidcKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	k.mu.Lock()
	set := k.set
	due := set != nil && !k.checking && k.now().Sub(k.checked) >= jwksRecheck
	if due {
		k.checking = true
	}
	k.mu.Unlock()
	if set == nil {
		return nil, errors.New("no key set yet")
	}
	if due {
		go k.recheck()
	}
	return set.VerifySignature(ctx, jwt)
}

// recheck fetches the JWKS and, when it changed, replaces the cached keys. A failure keeps
// the keys Portico has: a provider that is down must not lock every user out.
func (k *oidcKeys) recheck() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k.mu.Lock()
	url := k.url
	k.mu.Unlock()
	body, err := k.fetch(ctx, url, false)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.checking = false
	k.checked = k.now()
	if err != nil {
		k.log.Warn("OpenID provider JWKS recheck failed; keeping the keys known", "error", err)
		return
	}
	if h := sha256.Sum256(body); h != k.hash {
		k.hash = h
		k.set = oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), k.client), url)
		k.log.Info("OpenID provider JWKS changed; keys reloaded")
		if k.onChange != nil {
			k.onChange()
		}
	}
}

// jwksThrottle is a RoundTripper that lets at most one request per jwksMinInterval through
// and answers the others with a copy of the last response (or its error). It serves only the
// JWKS URL: one key set per transport.
type jwksThrottle struct {
	next http.RoundTripper
	now  func() time.Time

	mu     sync.Mutex
	at     time.Time // of the last request let through; zero: none
	status int
	header http.Header
	body   []byte
	err    error
}

func (t *jwksThrottle) forget() {
	t.mu.Lock()
	t.at = time.Time{}
	t.mu.Unlock()
}

func (t *jwksThrottle) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.at.IsZero() || t.now().Sub(t.at) >= jwksMinInterval || t.now().Before(t.at) {
		t.at = t.now()
		t.status, t.header, t.body, t.err = 0, nil, nil, nil
		resp, err := t.next.RoundTrip(req)
		if err != nil {
			t.err = err
		} else {
			t.body, t.err = io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
			resp.Body.Close()
			if t.err == nil && len(t.body) > maxJWKSBytes {
				t.body, t.err = nil, errors.New("the JWKS is larger than 1 MiB")
			}
			t.status, t.header = resp.StatusCode, resp.Header.Clone()
		}
	}
	if t.err != nil {
		return nil, t.err
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", t.status, http.StatusText(t.status)), StatusCode: t.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: t.header.Clone(), Body: io.NopCloser(bytes.NewReader(t.body)),
		ContentLength: int64(len(t.body)), Request: req,
	}, nil
}
