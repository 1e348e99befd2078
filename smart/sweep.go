package smart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/portico-health/portico/store"
)

// DefaultSweepInterval is how often expired authorization records are deleted.
const DefaultSweepInterval = 10 * time.Minute

// sweepSkew is added to every expiry before a record is deleted: tokens and assertions are
// accepted up to clockSkew after their exp, and exp is stored in whole seconds.
const sweepSkew = clockSkew + time.Second

// sweeper is the background goroutine that calls Sweep; Close stops it.
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startSweeper runs Sweep every interval (0: DefaultSweepInterval; negative: never) until
// Close. The first sweep runs one interval after start, so short-lived processes (portico
// admin) never sweep.
func (s *Server) startSweeper(interval time.Duration) {
	if interval < 0 {
		return
	}
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	sw := &sweeper{cancel: cancel, done: make(chan struct{})}
	s.sweep = sw
	go func() {
		defer close(sw.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n, err := s.Sweep(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				s.log.Warn("sweep of expired authorization records failed; retrying at the next interval", "deleted", n, "error", err)
			case n > 0:
				s.log.Info("expired authorization records deleted", "deleted", n)
			}
		}
	}()
}

// Close stops the background sweeper and waits for a sweep in progress to end. It does not
// close the store. Calling it more than once is harmless.
func (s *Server) Close() error {
	if sw := s.sweep; sw != nil {
		sw.once.Do(func() {
			sw.cancel()
			<-sw.done
		})
	}
	return nil
}

// Sweep purges (store.Purge: no version left in the store's history) the authorization records
// that can no longer serve: signing keys retired longer than the longest token lifetime,
// authorization codes and refresh tokens past their expiry or of a revoked grant, assertion
// jti replay records, used sign-in sessions and revoked access token records once the
// assertion, session or token itself would be refused as expired, EHR launch handles past
// their expiry, and revoked grants once every token that could name them has expired. It
// returns how many records it purged. Each criterion only ever turns true, so a record
// changed during the sweep is purged rightly.
func (s *Server) Sweep(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	revoked := map[string]bool{} // grant id → revoked, read once per sweep
	grantDead := func(rec store.Record) (bool, error) {
		var g grant
		if err := json.Unmarshal(rec.Body, &g); err != nil {
			return false, err
		}
		if !now.Before(g.Expires.Add(sweepSkew)) {
			return true, nil
		}
		if g.GrantID == "" {
			return false, nil
		}
		r, ok := revoked[g.GrantID]
		if !ok {
			var err error
			if r, err = s.grantRevoked(ctx, g.GrantID); err != nil {
				return false, err
			}
			revoked[g.GrantID] = r
		}
		return r, nil
	}
	expAt := func(rec store.Record) (bool, error) { // {"exp": unix seconds}
		var b struct {
			Exp int64 `json:"exp"`
		}
		if err := json.Unmarshal(rec.Body, &b); err != nil {
			return false, err
		}
		return !now.Before(time.Unix(b.Exp, 0).Add(sweepSkew)), nil
	}
	launchDead := func(rec store.Record) (bool, error) {
		var lc launchContext
		if err := json.Unmarshal(rec.Body, &lc); err != nil {
			return false, err
		}
		return !now.Before(lc.Expires.Add(sweepSkew)), nil
	}
	// A revoked grant is checked by every token of the grant: it must outlive the longest
	// refresh token issued before the revocation and the access tokens issued from it.
	keepRevoked := offlineRefresh + s.cfg.AccessTokenTTL + sweepSkew
	grantGone := func(rec store.Record) (bool, error) {
		return !now.Before(rec.LastUpdated.Add(keepRevoked)), nil
	}
	kinds := []struct {
		typ  string
		dead func(store.Record) (bool, error)
	}{
		{TypeAuthCode, grantDead},
		{TypeRefreshToken, grantDead},
		{TypeJTI, expAt},
		{TypeRevoked, expAt},
		{TypeLaunch, launchDead},
		{TypeUsedSession, expAt},
		{TypeRevokedGrant, grantGone}, // last: the tokens of revoked grants go first
	}
	total, err := s.destroyRetiredKeys(ctx)
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("smart: destroy retired signing keys: %w", err))
	}
	for _, k := range kinds {
		n, err := s.sweepType(ctx, k.typ, k.dead)
		total += n
		if err != nil {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("smart: sweep %s: %w", k.typ, err))
		}
	}
	return total, errors.Join(errs...)
}

// sweepType pages through the current records of typ and purges those dead reports. A record
// that does not parse is left alone (and reported): deleting what is not understood could
// remove a replay or revocation record that still matters.
func (s *Server) sweepType(ctx context.Context, typ string, dead func(store.Record) (bool, error)) (int, error) {
	q := store.Query{Types: []string{typ}, Count: 200}
	n := 0
	var errs []error
	for {
		page, err := s.st.Search(ctx, q)
		if err != nil {
			return n, err
		}
		for _, rec := range page.Records {
			d, err := dead(rec)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: %w", typ, rec.ID, err))
				continue
			}
			if !d {
				continue
			}
			if err := s.st.Purge(ctx, typ, rec.ID); err != nil {
				return n, err
			}
			n++
		}
		if page.Next == "" {
			return n, errors.Join(errs...)
		}
		q.Cursor = page.Next
	}
}
