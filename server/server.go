package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/conformance"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/triage/triagehook"
)

// Server is a configured Portico: its store and its HTTP handler.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	echo  *echo.Echo
}

// New opens the store and builds the HTTP handler. Close releases both.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Server{cfg: cfg, log: log, store: st}
	if err := s.buildHandler(); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) buildHandler() error {
	var hooks []api.WriteHook
	th, err := s.cfg.triageHook()
	if err != nil {
		return err
	}
	if th != nil {
		hooks = append(hooks, th)
	}
	var (
		authz      *smart.Server
		authorizer api.Authorizer
	)
	if s.cfg.Auth == AuthNone {
		s.log.Warn("AUTHORIZATION IS OFF (--auth=none): anyone who can reach this server can read and change every resource; use it only for local development")
	} else {
		if authz, err = smart.New(smart.Config{Store: s.store, BaseURL: s.cfg.BaseURL, Logger: s.log}); err != nil {
			return err
		}
		authorizer = smartAuthorizer{}
	}
	fhirAPI, err := api.New(api.Config{
		Store:         s.store,
		BaseURL:       s.cfg.BaseURL,
		Logger:        s.log,
		MaxBodyBytes:  s.cfg.MaxBodyBytes,
		ResourceTypes: fhir.ResourceTypes,
		WriteHooks:    hooks,
		Authorizer:    authorizer,
	})
	if err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = fhirAPI.HTTPErrorHandler
	e.Use(middleware.RequestID())
	e.Use(requestLogger(s.log))
	e.Use(middleware.Recover())

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)

	// Public: the CapabilityStatement, the SMART documents and the /auth routes. Everything
	// else under /fhir goes through the smart middleware (401 without a valid token).
	desc := conformance.Description{
		BaseURL:       s.cfg.BaseURL,
		ResourceTypes: fhir.ResourceTypes,
		SearchParams:  conformance.R4SearchParams,
	}
	if th != nil {
		desc.Operations = func(typ string) []conformance.Operation {
			if typ != "Communication" {
				return nil
			}
			return []conformance.Operation{{Name: triagehook.StatsOperation, Definition: triagehook.StatsDefinition}}
		}
	}
	var protect []echo.MiddlewareFunc
	if authz != nil {
		authz.Register(e)
		desc.Security = &conformance.Security{
			AuthorizeURL:  authz.Issuer() + "/authorize",
			TokenURL:      authz.TokenURL(),
			IntrospectURL: authz.Issuer() + "/introspect",
			RevokeURL:     authz.Issuer() + "/revoke",
		}
		protect = append(protect, authz.Middleware())
	}
	e.GET("/fhir/metadata", conformance.Handler(desc))
	g := e.Group("/fhir", protect...)
	if th != nil {
		stats := th.StatsHandler(s.store, nil)
		if authz != nil {
			stats = requireUnrestricted("Communication", "$triage-stats", stats)
		}
		g.GET(triagehook.StatsPath, stats)
	}
	fhirAPI.Register(g)
	s.echo = e
	return nil
}

// ready answers /readyz: 200 when the store answers, 503 otherwise.
func (s *Server) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return c.String(http.StatusServiceUnavailable, "store unavailable\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

// Handler is the whole HTTP surface (FHIR API, health endpoints).
func (s *Server) Handler() http.Handler { return s.echo }

// Store is the opened backend.
func (s *Server) Store() store.Store { return s.store }

// Serve answers requests on ln until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to 15 s), and closes the store, which finishes
// pending writes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return errors.Join(err, s.store.Close())
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	return errors.Join(err, s.store.Close())
}

// Close releases the store (for servers that never called Serve).
func (s *Server) Close() error { return s.store.Close() }
