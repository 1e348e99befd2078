package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 8 << 20 // 8 MiB
	DefaultPageCount    = 50
	DefaultMaxPageCount = 1000
)

// Config configures the API. Only Store and BaseURL are required.
type Config struct {
	Store store.Store

	// BaseURL is the public FHIR base, e.g. "http://localhost:8080/fhir": fullUrl, Location
	// and Bundle links are built from it, never from the request's Host header.
	BaseURL string

	// Logger receives one line per failed request (issue code, status and request id; never
	// resource content). Nil discards.
	Logger *slog.Logger

	// MaxBodyBytes caps request bodies (HTTP 413 above it). Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// ResourceTypes are the resource types served; any other type is HTTP 404. Nil means
	// DefaultResourceTypes.
	ResourceTypes []string

	// DefaultCount is the page size when _count is absent (zero: DefaultPageCount); MaxCount
	// caps _count (zero: DefaultMaxPageCount).
	DefaultCount, MaxCount int

	// Now is the clock that stamps meta.lastUpdated (nil: time.Now).
	Now func() time.Time

	// MaxBundleEntries caps the entries of a batch or transaction (HTTP 413 above it). Zero
	// means DefaultMaxBundleEntries.
	MaxBundleEntries int

	// AdmitWrites, when set, is asked before a batch or transaction runs, with the number of
	// its entries that write: an error refuses the Bundle (the server's write rate limit, so
	// that a Bundle of 1,000 creates counts as 1,000 writes, not one request).
	AdmitWrites func(ctx context.Context, writes int) error
	// AdmitIndexEntries, when set, is asked before a client's write (or a transaction's
	// writes) is committed, with the number of search index entries it makes (write hooks'
	// own writes not counted): an error refuses it. The store writes every entry, so one
	// resource with 10,000 codings costs it what 10,000 small ones do.
	AdmitIndexEntries func(ctx context.Context, entries int) error

	// WriteHooks run, in order, before every write (see WriteHook): triage, booking, billing
	// and audit plug in here.
	WriteHooks []WriteHook

	// Policy decides what each request may see and do; the API enforces it through a
	// guard.View of the store built for each request from the policy.Principal in its
	// context (docs/smart.md). Nil means an open server: every request is allowed (portico
	// serve --auth=none).
	Policy *policy.Policy

	// SearchTimeout bounds each search and history page (0: none): one still running then is
	// stopped and answered 503 too-costly (guard.ErrSearchTooLong).
	SearchTimeout time.Duration

	// CursorKey (CursorKeySize bytes) seals the paging cursors of next links (cursor.go).
	// Every server sharing a store must use the same key for their links to work on each
	// other; empty means a random key, good within this process only.
	CursorKey []byte
}

// API serves the FHIR RESTful interactions. Create it with New; it is safe for concurrent use.
type API struct {
	guard        *guard.Source // the store, only ever reached through a request's view
	base         string        // BaseURL without a trailing slash
	log          *slog.Logger
	maxBody      int64
	types        map[string]struct{}
	typeList     []string // the served types, sorted: what a system search without _type covers
	defaultCount int
	maxCount     int
	now          func() time.Time
	maxEntries   int
	hooks        []WriteHook
	admitWrites  func(ctx context.Context, writes int) error
	admitIndex   func(ctx context.Context, entries int) error
	cursors      *cursorSeal
	bundleBudget time.Duration // the search time of one Bundle's entries together (0: none)
}

// New checks cfg and returns the API; it reports every configuration problem at once.
func New(cfg Config) (*API, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("api: Config.Store is required"))
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("api: Config.BaseURL %q must be an absolute http(s) URL without query or fragment", cfg.BaseURL))
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("api: Config.MaxBodyBytes must not be negative"))
	}
	if cfg.DefaultCount < 0 || cfg.MaxCount < 0 {
		errs = append(errs, errors.New("api: Config.DefaultCount and MaxCount must not be negative"))
	}
	a := &API{
		base:         base,
		log:          cfg.Logger,
		maxBody:      cfg.MaxBodyBytes,
		defaultCount: cfg.DefaultCount,
		maxCount:     cfg.MaxCount,
		now:          cfg.Now,
		hooks:        cfg.WriteHooks,
		bundleBudget: bundleSearchBudget * cfg.SearchTimeout,
	}
	var services []policy.Principal
	for i, h := range cfg.WriteHooks {
		if h == nil {
			errs = append(errs, fmt.Errorf("api: Config.WriteHooks[%d] is nil", i))
			continue
		}
		services = append(services, hookPrincipal(i, h))
	}
	if cfg.Store != nil {
		var err error
		a.guard, err = guard.New(guard.Config{Store: cfg.Store, Policy: cfg.Policy, BaseURL: base, Services: services, Logger: cfg.Logger,
			SearchTimeout: cfg.SearchTimeout})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.maxBody == 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	if a.maxCount == 0 {
		a.maxCount = DefaultMaxPageCount
	}
	if a.defaultCount == 0 {
		a.defaultCount = min(DefaultPageCount, a.maxCount)
	}
	if a.defaultCount > a.maxCount {
		errs = append(errs, fmt.Errorf("api: Config.DefaultCount %d exceeds MaxCount %d", a.defaultCount, a.maxCount))
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.maxEntries = cfg.MaxBundleEntries; a.maxEntries <= 0 {
		a.maxEntries = DefaultMaxBundleEntries
	}
	a.admitWrites = cfg.AdmitWrites
	a.admitIndex = cfg.AdmitIndexEntries
	if seal, err := newCursorSeal(cfg.CursorKey); err != nil {
		errs = append(errs, err)
	} else {
		a.cursors = seal
	}
	types := cfg.ResourceTypes
	if types == nil {
		types = DefaultResourceTypes
	}
	a.types = make(map[string]struct{}, len(types))
	for _, t := range types {
		if !validType(t) {
			errs = append(errs, fmt.Errorf("api: %q in Config.ResourceTypes is not a resource type name", t))
		}
		a.types[t] = struct{}{}
	}
	a.typeList = slices.Sorted(maps.Keys(a.types))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// Register adds the FHIR interactions to g, which is mounted at the FHIR base (/fhir).
// Static routes registered on g by others (metadata, .well-known/...) take precedence over
// the [type] routes here.
//
// mw runs on every route (authentication, rate limits): given per route rather than to the
// group, whose middleware Echo runs through a catch-all route that turns a method the path
// does not allow (405) into 404.
func (a *API) Register(g *echo.Group, mw ...echo.MiddlewareFunc) {
	g.GET("/_history", a.historySystem, mw...)
	g.POST("", a.bundle, mw...) // batch and transaction
	g.POST("/", a.bundle, mw...)
	g.GET("", a.searchSystem, mw...)
	g.GET("/", a.searchSystem, mw...)
	g.POST("/_search", a.searchSystemPost, mw...)

	g.GET("/:type", a.searchType, mw...)
	g.POST("/:type/_search", a.searchTypePost, mw...)

	g.POST("/:type", a.create, mw...)
	g.PUT("/:type", a.conditionalUpdate, mw...)
	g.DELETE("/:type", a.conditionalDelete, mw...)
	g.GET("/:type/_history", a.historyType, mw...)

	g.GET("/:type/:id", a.read, mw...)
	g.HEAD("/:type/:id", a.read, mw...)
	g.PUT("/:type/:id", a.update, mw...)
	g.PATCH("/:type/:id", a.patch, mw...)
	g.DELETE("/:type/:id", a.delete, mw...)
	g.GET("/:type/:id/_history", a.historyInstance, mw...)
	g.GET("/:type/:id/_history/:vid", a.vread, mw...)
	g.HEAD("/:type/:id/_history/:vid", a.vread, mw...)
}

// pageBytes is the most resource bytes one search page (and, apart, its included resources)
// holds: twice the body limit, at least 16 MiB. A page of larger resources ends early, with a
// next link (store.Query.MaxBytes), so that no request makes the server hold more.
func (a *API) pageBytes() int { return int(max(2*a.maxBody, 16<<20)) }
