package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/store"
)

// ready answers /readyz: 200 when the store answers and can write, 503 otherwise. The body
// says which, never why in detail (the log does): /readyz is public.
func (s *Server) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return c.String(http.StatusServiceUnavailable, "store unavailable\n")
	}
	if err := s.writes.check(ctx); err != nil {
		return c.String(http.StatusServiceUnavailable, "store cannot write\n")
	}
	if o := s.oidc.Load(); o != nil && o.Ready() != nil {
		return c.String(http.StatusServiceUnavailable, "OpenID provider not discovered yet\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

// The answers of the write check are kept this long: a check is a commit, and orchestrators
// poll readiness every few seconds from every replica. A failure is kept for less, so that a
// store that can write again (or finished its start-up integrity check) is ready soon after.
const (
	writeCheckOK   = 5 * time.Second
	writeCheckFail = time.Second
)

// writeProbe runs the store's write check (store.WriteChecker) for /readyz, at most once per
// period: concurrent requests wait for the one check running.
type writeProbe struct {
	st  store.WriteChecker // nil: the store has no write check, and readiness is its Ping
	log *slog.Logger

	mu      sync.Mutex
	until   time.Time // the cached answer is used until then
	err     error
	failing bool // the last answer was a failure (logged once, and its end)
}

func newWriteProbe(st store.Store, log *slog.Logger) *writeProbe {
	wc, _ := st.(store.WriteChecker)
	return &writeProbe{st: wc, log: log}
}

// check returns the cached answer, or checks.
func (p *writeProbe) check(ctx context.Context) error {
	if p.st == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Now().Before(p.until) {
		return p.err
	}
	err := p.st.CheckWrite(ctx)
	if errors.Is(err, context.Canceled) {
		return err // the client went away: nothing learnt about the store
	}
	p.err = err
	switch {
	case err == nil:
		p.until = time.Now().Add(writeCheckOK)
		if p.failing {
			p.log.Info("the store can write again: /readyz answers 200")
		}
	default:
		p.until = time.Now().Add(writeCheckFail)
		if !p.failing {
			p.log.Error("the store cannot write: /readyz answers 503 until it can", "error", err.Error())
		}
	}
	p.failing = err != nil
	return err
}
