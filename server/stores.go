package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/mongo"
	"github.com/portico-health/portico/store/sqlite"
)

// opener opens one kind of store from the part of --store after its scheme. serving is true
// for the store of a server (server.New), false for one-shot commands (admin, preload).
type opener func(ctx context.Context, cfg Config, rest string, log *slog.Logger, serving bool) (store.Store, error)

// openers maps the scheme of --store to the backend that serves it.
var openers = map[string]opener{
	"sqlite":      openSQLite,
	"mongodb":     openMongo,
	"mongodb+srv": openMongo,
}

// storeOpener splits --store into its backend and the rest of the location.
func storeOpener(location string) (opener, string, error) {
	if location == "" {
		return openSQLite, "", nil
	}
	scheme, rest, _ := strings.Cut(location, ":")
	o, ok := openers[scheme]
	if !ok {
		return nil, "", fmt.Errorf("store: unknown backend %q (expected sqlite, sqlite:/path, mongodb://... or mongodb+srv://...)", scheme)
	}
	return o, rest, nil
}

func openSQLite(ctx context.Context, cfg Config, rest string, log *slog.Logger, serving bool) (store.Store, error) {
	sc := sqlite.Config{Dir: cfg.SQLiteDir(), Logger: log, MmapSize: int64(cfg.SQLiteMmapMB) << 20, Sync: cfg.SQLiteSync}
	if serving {
		sc.QuickCheck = cfg.SQLiteQuickCheck // /readyz reports it; a one-shot command needs none
	}
	return sqlite.Open(ctx, sc)
}

// SQLiteDir is the directory of the embedded store: the path of --store sqlite:/path, else
// --data-dir. "" when --store names another backend.
func (c Config) SQLiteDir() string {
	if c.Store == "" || c.Store == "sqlite" {
		return c.DataDir
	}
	if dir, ok := strings.CutPrefix(c.Store, "sqlite:"); ok {
		if dir == "" {
			return c.DataDir
		}
		return dir
	}
	return ""
}

// openMongo opens the MongoDB backend; rest is the connection string after "mongodb:" or
// "mongodb+srv:", so the scheme is put back. A server does not wait for an unreachable
// deployment: after a first attempt of up to mongoFirstContact it starts with the store not
// ready (503, /readyz 503) while the store retries in the background.
func openMongo(ctx context.Context, cfg Config, rest string, log *slog.Logger, serving bool) (store.Store, error) {
	scheme := "mongodb"
	if strings.HasPrefix(cfg.Store, "mongodb+srv:") {
		scheme = "mongodb+srv"
	}
	mc := mongo.Config{URI: scheme + ":" + rest, Logger: log}
	if serving {
		mc.RetrySetup, mc.ConnectTimeout = true, mongoFirstContact
	}
	return mongo.Open(ctx, mc)
}

// mongoFirstContact bounds how long a starting server waits for MongoDB before it listens.
const mongoFirstContact = 3 * time.Second

// OpenStore opens the store that cfg.Store names. An unreachable store is an error (wrapping
// store.ErrUnavailable).
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	return openStore(ctx, cfg, log, false)
}

func openStore(ctx context.Context, cfg Config, log *slog.Logger, serving bool) (store.Store, error) {
	o, rest, err := storeOpener(cfg.Store)
	if err != nil {
		return nil, err
	}
	return o(ctx, cfg, rest, log, serving)
}

// pendingStore is a store opened before its backend answered (mongo.Config.RetrySetup).
type pendingStore interface {
	Ready() bool
	WaitReady(ctx context.Context) error
}

// errStoreStarting answers every FHIR request while the store is not ready yet: the api's error
// handler makes it a 503 OperationOutcome (issue code transient).
var errStoreStarting = fmt.Errorf("server: the store is not ready yet: %w", store.ErrUnavailable)

// handlerSwap serves the handler of the moment: the starting one, then the full API.
type handlerSwap struct{ cur atomic.Pointer[http.Handler] }

func (h *handlerSwap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*h.cur.Load()).ServeHTTP(w, r)
}

func (h *handlerSwap) set(handler http.Handler) { h.cur.Store(&handler) }

// startPending is server.New for a store that is not ready yet. It serves /healthz (200),
// /readyz (503) and a 503 OperationOutcome for everything else, and builds the full handler
// once the store is ready: the SMART authorization server reads its signing keys from the
// store, so it cannot be built before. The wait ends with ctx (in `portico serve`, the signal
// context) or when the store is closed. It reports false when the store is ready already (the
// usual case: New builds the handler at once).
func (s *Server) startPending(ctx context.Context) (bool, error) {
	ps, ok := s.store.(pendingStore)
	if !ok || ps.Ready() {
		return false, nil
	}
	// What does not need the store is checked now, so that a bad flag still stops the start.
	if _, err := s.cfg.triageHook(); err != nil {
		return true, err
	}
	outcomes, err := api.New(api.Config{Store: s.store, BaseURL: s.cfg.BaseURL, Logger: s.log,
		MaxBodyBytes: s.cfg.MaxBodyBytes, ResourceTypes: fhir.ResourceTypes})
	if err != nil {
		return true, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = outcomes.HTTPErrorHandler
	s.useCommon(e, nil) // the authorization server is not built yet: only the FHIR API's CORS
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	// 503 until the full API is swapped in, not merely until the store answers.
	e.GET("/readyz", func(c echo.Context) error {
		return c.String(http.StatusServiceUnavailable, "store unavailable\n")
	})
	e.Any("/*", func(echo.Context) error { return errStoreStarting })
	s.swap = &handlerSwap{}
	s.swap.set(e)

	go func() {
		for delay := time.Second; ; delay = min(delay*2, 30*time.Second) {
			if err := ps.WaitReady(ctx); err != nil {
				return // shutting down (ctx) or the store was closed
			}
			err := s.buildHandler()
			if err == nil {
				s.swap.set(s.echo)
				s.log.Info("store ready: serving the FHIR API")
				return
			}
			// E.g. MongoDB went away again between its setup and the signing keys' read.
			s.log.Error("store ready but the FHIR API could not be built; retrying", "error", err.Error(),
				"retry_ms", delay.Milliseconds())
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}()
	return true, nil
}
