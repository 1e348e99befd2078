package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/policy"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/conformance"
	"github.com/portico-health/portico/demo"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/internal/clientaddr"
	"github.com/portico-health/portico/internal/telemetry"
	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/derived"
	"github.com/portico-health/portico/store/intent"
	"github.com/portico-health/portico/triage"
	"github.com/portico-health/portico/triage/triagehook"
)

// Server is a configured Portico: its store and its HTTP handler.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	echo  *echo.Echo
	swap  *handlerSwap                 // set when the store was not ready at start (stores.go)
	oidc  atomic.Pointer[smart.OIDC]   // with --oidc-issuer: the external provider's tokens (oidc.go)
	authz atomic.Pointer[smart.Server] // the built-in authorization server: its sweeper stops on close

	certs *certReloader // with --tls-cert: the HTTPS certificate (tls.go)

	writes *writeProbe // the store's write check, cached for /readyz (ready.go)

	stopRecovery context.CancelFunc // the intent recovery loop (store/intent), nil when none
	recoveryDone chan struct{}

	metrics     *telemetry.Metrics // nil with --metrics=false
	tracing     *telemetry.Tracing // nil unless an OTLP endpoint is configured
	tracingDone sync.Once          // the exporter is flushed and stopped once (Serve or Close)
}

// New opens the store and builds the HTTP handler. Close releases both.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Server{cfg: cfg, log: log, store: st, writes: newWriteProbe(st, log)}
	warnPlainHTTP(cfg.BaseURL, log)
	if cfg.TLSCert != "" {
		if s.certs, err = newCertReloader(cfg.TLSCert, cfg.TLSKey, log); err != nil {
			st.Close()
			return nil, err
		}
	}
	if cfg.Metrics {
		s.metrics = telemetry.NewMetrics()
	}
	if telemetry.TracingWanted(cfg.OTLPEndpoint) {
		if s.tracing, err = telemetry.StartTracing(ctx, cfg.OTLPEndpoint, log); err != nil {
			st.Close()
			return nil, err
		}
		log.Info("exporting traces over OTLP/HTTP")
	}
	fail := func(err error) (*Server, error) {
		st.Close()
		s.stopTracing()
		return nil, err
	}
	if pending, err := s.startPending(ctx); pending {
		if err != nil {
			return fail(err)
		}
		return s, nil
	}
	if err := s.buildHandler(); err != nil {
		return fail(err)
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
		if m := s.metrics; m != nil {
			th.SetObserver(func(res triage.Result) { m.ObserveTriage(res.Priority.String(), res.Category) })
		}
	}
	// Every store call is timed, and traced within a traced request; the authorization
	// server's calls too.
	backend := telemetry.WrapStore(s.store, s.metrics, s.tracing)
	var (
		authz  *smart.Server
		oidcRS *smart.OIDC // --oidc-issuer: an external provider instead of authz
		pol    *policy.Policy
	)
	if s.cfg.Auth == AuthNone {
		s.log.Warn("AUTHORIZATION IS OFF (--auth=none): anyone who can reach this server can read and change every resource; use it only for local development")
	} else {
		reach, err := policy.ParseStaffReach(s.cfg.StaffReach)
		if err != nil {
			return err
		}
		pol = policy.New(policy.Options{StaffReach: reach})
		if s.cfg.OIDCIssuer != "" {
			if oidcRS, err = smart.NewOIDC(s.cfg.oidcConfig(s.log)); err != nil {
				return err
			}
		} else {
			sc := smart.Config{Store: backend, BaseURL: s.cfg.BaseURL, Logger: s.log, Policy: pol,
				PasswordHashes: s.cfg.PasswordHashes, RateLimit: s.cfg.smartRateLimit()}
			if s.metrics != nil {
				sc.ObserveToken = s.metrics.ObserveToken
			}
			if authz, err = smart.New(sc); err != nil {
				return err
			}
			s.authz.Store(authz)
		}
	}
	// combo-* stored once (docs/store.md, "Write cost"); hooks' follow-up writes sequenced
	// when the store has no transactions (store/intent).
	seq := intent.Wrap(derived.Wrap(backend), s.log)
	data := store.Store(seq)
	s.startRecovery(seq)
	// Portico's own definitions, served like any resource (docs/definitions.md).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := seedDefinitions(ctx, data, s.cfg.BaseURL, time.Now()); err != nil {
		s.log.Error("Portico's definitions could not all be written; clients and validators will not find them", "error", err)
	}
	cancel()
	limits := s.cfg.apiLimits()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	cursors, err := cursorKey(ctx, backend)
	cancel()
	if err != nil {
		return err
	}
	fhirAPI, err := api.New(api.Config{
		CursorKey:     cursors,
		Store:         data,
		BaseURL:       s.cfg.BaseURL,
		Logger:        s.log,
		MaxBodyBytes:  s.cfg.MaxBodyBytes,
		ResourceTypes: fhir.ResourceTypes,
		WriteHooks:    hooks,
		Policy:        pol,

		MaxBundleEntries:  s.cfg.MaxBundleEntries,
		AdmitWrites:       limits.admitWrites,
		AdmitIndexEntries: limits.admitIndexEntries,
		SearchTimeout:     s.cfg.SearchTimeout,
	})
	if err != nil {
		return err
	}
	// The endpoints browser apps of any origin call before they have a token (cors.go).
	var crossOrigin []string
	switch {
	case authz != nil:
		crossOrigin = authz.CrossOriginPaths()
	case oidcRS != nil:
		crossOrigin = oidcRS.CrossOriginPaths()
	}
	if origins, _ := parseCORSOrigins(s.cfg.CORSOrigins); origins.any && s.cfg.Auth == AuthNone {
		s.log.Warn("CORS IS OPEN TO EVERY ORIGIN ON AN OPEN SERVER (--cors-origins='*' with --auth=none): any web page that someone who can reach this server opens can read and change every resource")
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = fhirAPI.HTTPErrorHandler
	s.useCommon(e, crossOrigin)
	e.Use(limits.byAddress())

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)

	// Public: the CapabilityStatement, the SMART documents and the /auth routes. Everything
	// else under /fhir goes through the smart middleware (401 without a valid token).
	desc := conformance.Description{
		BaseURL:       s.cfg.BaseURL,
		ResourceTypes: fhir.ResourceTypes,
		SearchParams:  conformance.R4SearchParams,
	}
	if !store.CapabilitiesOf(data).Transactions {
		// A transaction Bundle with more than one write answers 501 here: not advertised.
		in := conformance.DefaultInteractions()
		in.System = slices.DeleteFunc(in.System, func(c string) bool { return c == "transaction" })
		desc.Interactions = &in
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
		if s.cfg.Demo {
			if err := s.registerDemo(e, backend); err != nil {
				return err
			}
		}
		desc.Security = &conformance.Security{AuthorizeURL: authz.Issuer() + "/authorize", TokenURL: authz.TokenURL()}
		protect = append(protect, authz.Middleware())
	}
	if oidcRS != nil {
		protect = append(protect, wireOIDC(e, oidcRS, desc))
	} else {
		e.GET("/fhir/metadata", conformance.Handler(desc))
	}
	// The middleware of the FHIR routes, given to each route (api.Register): as a group's
	// middleware, Echo would answer a method a path does not allow with 404, not 405.
	mw := append(protect, limits.byPrincipal())
	g := e.Group("/fhir")
	if th != nil {
		src, err := guard.New(guard.Config{Store: data, Policy: pol, BaseURL: s.cfg.BaseURL, Logger: s.log})
		if err != nil {
			return err
		}
		stats := th.StatsHandler(func(ctx context.Context) (store.Store, error) { return src.View(ctx) }, s.cfg.BaseURL, nil)
		if pol != nil {
			stats = requireUnrestricted(src, "Communication", policy.PermSearch, "$triage-stats", stats)
		}
		g.GET(triagehook.StatsPath, stats, mw...)
	}
	fhirAPI.Register(g, mw...)
	if th != nil {
		// Registered last: buildHandler is retried after a failure while MongoDB starts.
		s.metrics.RegisterTriageQueue(func(ctx context.Context, now time.Time) (int, int, error) {
			return triagehook.OpenQueue(ctx, data, now)
		}, s.log)
	}
	if oidcRS != nil {
		s.oidc.Store(oidcRS)
		oidcRS.Start() // discovery, retried in the background while the provider is down
	}
	s.echo = e
	return nil
}

// startRecovery settles the intents of follow-up sequences a stopped process left (at start
// and every minute) when the store has no transactions.
func (s *Server) startRecovery(seq *intent.Store) {
	if store.CapabilitiesOf(seq).Transactions {
		return
	}
	s.log.Info("the store has no multi-document transactions: follow-up writes (triage replies, answers) are sequenced with intents and recovered after a crash (docs/mongodb.md)")
	ctx, cancel := context.WithCancel(context.Background())
	s.stopRecovery, s.recoveryDone = cancel, make(chan struct{})
	go func() {
		defer close(s.recoveryDone)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			if n, err := seq.Recover(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("intent recovery", "settled", n, "error", err)
			} else if n > 0 {
				s.log.Info("intent recovery", "settled", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// useCommon adds the middleware every handler of the server starts with: the client address
// (clientaddr.From) with the request log, the metrics and the trace span of each request
// (logging.go), the response headers of FHIR and /auth, the request id, CORS (for the FHIR API
// and the paths of crossOrigin, which every origin may call), panic recovery and HSTS; and
// /metrics.
func (s *Server) useCommon(e *echo.Echo, crossOrigin []string) {
	trusted, _ := clientaddr.ParseTrusted(s.cfg.TrustedProxies) // checked in Validate
	origins, _ := parseCORSOrigins(s.cfg.CORSOrigins)           // checked in Validate
	u, _ := url.Parse(s.cfg.BaseURL)                            // checked in Validate
	e.Use(s.requestLogger(clientaddr.New(trusted)))
	e.Use(noStore(s.cfg.BaseURL))
	e.Use(boundRequestID, middleware.RequestID())
	e.Use(corsMiddleware(u.Path, origins, crossOrigin))
	e.Use(middleware.Recover())
	if m := hsts(s.cfg.BaseURL, s.cfg.HSTSMaxAge); m != nil {
		e.Use(m)
	}
	if s.metrics != nil {
		e.GET("/metrics", echo.WrapHandler(s.metrics.Handler()))
	}
}

// noStore makes every response under the FHIR base and the /auth routes beside it
// "Cache-Control: no-store" (they carry health data and tokens, which no cache may keep) and
// "X-Content-Type-Options: nosniff" (a browser must not run a resource as HTML or script).
// The headers are set just before the status is written, so no handler can forget or change
// them.
func noStore(baseURL string) echo.MiddlewareFunc {
	u, _ := url.Parse(baseURL) // checked in Validate
	fhirPath := strings.TrimSuffix(u.Path, "/")
	authPath := path.Join(path.Dir(fhirPath), "auth") // smart's default issuer path
	under := func(p, base string) bool { return p == base || strings.HasPrefix(p, base+"/") }
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p := c.Request().URL.Path; under(p, fhirPath) || under(p, authPath) {
				res := c.Response()
				res.Before(func() {
					res.Header().Set("Cache-Control", "no-store")
					res.Header().Set("X-Content-Type-Options", "nosniff")
				})
			}
			return next(c)
		}
	}
}

// registerDemo serves the /demo app and registers (idempotently) its public client.
func (s *Server) registerDemo(e *echo.Echo, st store.Store) error {
	d, err := demo.New(demo.Config{Store: st, BaseURL: s.cfg.BaseURL, Logger: s.log})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.EnsureClient(ctx); err != nil {
		return err
	}
	d.Register(e)
	return nil
}

// Handler is the whole HTTP surface (FHIR API, health endpoints).
func (s *Server) Handler() http.Handler {
	if s.swap != nil {
		return s.swap
	}
	return s.echo
}

// Store is the opened backend.
func (s *Server) Store() store.Store { return s.store }

// Serve answers requests on ln until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to 15 s), and closes the store, which finishes
// pending writes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.stopOIDC()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       orDefault(s.cfg.ReadTimeout, defaultReadTimeout),
		WriteTimeout:      orDefault(s.cfg.WriteTimeout, defaultWriteTimeout),
		IdleTimeout:       orDefault(s.cfg.IdleTimeout, defaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	if s.certs != nil {
		srv.TLSConfig = s.certs.tlsConfig()
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	defer s.stopTracing()
	select {
	case err := <-errc:
		return errors.Join(err, s.closeStore())
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	return errors.Join(err, s.closeStore())
}

// Close releases the store (for servers that never called Serve).
func (s *Server) Close() error {
	s.stopOIDC()
	defer s.stopTracing()
	if s.stopRecovery != nil {
		s.stopRecovery()
		<-s.recoveryDone
		s.stopRecovery = nil
	}
	return s.closeStore()
}

// stopTracing exports the spans still buffered (5 s at most) and stops the exporter.
func (s *Server) stopTracing() {
	if s.tracing == nil {
		return
	}
	s.tracingDone.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.tracing.Shutdown(ctx); err != nil {
			s.log.Warn("trace exporter shutdown", "error", err.Error())
		}
	})
}

// closeStore stops what writes to the store in the background (the authorization server's
// sweeper), then closes the store, which finishes pending writes.
func (s *Server) closeStore() error {
	var err error
	if a := s.authz.Load(); a != nil {
		err = a.Close()
	}
	return errors.Join(err, s.store.Close())
}

// maxRequestID is the longest X-Request-Id taken from a client: a longer one (or one with
// anything but printable ASCII) is replaced by a new id. It is echoed, written into every log
// line of the request and handed to each entry of a Bundle: unbounded, one request could make
// the server write gigabytes of log.
const maxRequestID = 128

// boundRequestID drops a client's X-Request-Id that is too long or not printable ASCII, so
// that the RequestID middleware makes a new one.
func boundRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" {
			ok := len(id) <= maxRequestID && len(h.Values(echo.HeaderXRequestID)) == 1
			for i := 0; ok && i < len(id); i++ {
				ok = id[i] > 0x20 && id[i] < 0x7f
			}
			if !ok {
				h.Del(echo.HeaderXRequestID)
			}
		}
		return next(c)
	}
}
