package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/internal/clientaddr"
	"github.com/portico-health/portico/internal/telemetry"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store/sqlite"
	"github.com/portico-health/portico/triage"
	"github.com/portico-health/portico/triage/triagehook"
)

// Config is everything `portico serve` can be told. Each field is a flag and an environment
// variable PORTICO_<FLAG> (see main.go).
type Config struct {
	Addr         string // listen address, e.g. ":8080"
	DataDir      string // directory of the embedded store
	BaseURL      string // public FHIR base URL, e.g. "http://localhost:8080/fhir"
	Store        string // "" or "sqlite" (embedded, in DataDir), "sqlite:/path/to/dir", or a mongodb:// or mongodb+srv:// URI
	LogLevel     string // debug, info, warn, error
	MaxBodyBytes int64  // largest accepted request body

	// SQLiteMmapMB is how many MiB of the embedded store's file each reader maps into memory
	// (0, the default: none; docs/store.md, "Memory").
	SQLiteMmapMB int

	// SQLiteSync says when the embedded store acknowledges a write: "full" (the default:
	// once the WAL holding it is fsynced), "strict" (the same, nothing readable before the
	// fsync) or "normal" (no fsync: survives a process crash, not a power loss). See
	// sqlite.Config.Sync and docs/store.md, "Durability".
	SQLiteSync string

	// SQLiteQuickCheck bounds the integrity check (PRAGMA quick_check) of the embedded store
	// that runs in the background at start: /readyz answers 503 until it has ended, and for as
	// long as the server runs when it found damage. 0 skips it. sqlite.Config.QuickCheck.
	SQLiteQuickCheck time.Duration

	// Auth is how the FHIR API is protected: AuthSMART (tokens required, the default) or
	// AuthNone (an open server for local development; a warning is logged at every start).
	Auth string

	// Triage turns the triage of patient messages on (docs/triage.md).
	Triage bool
	// TriageProtocols is the triage red-flag protocol file ("": the shipped protocols).
	TriageProtocols string
	// TriageConfig is the triage configuration: routing, calendar, targets, replies ("": the
	// shipped default).
	TriageConfig string

	// OIDCIssuer, when set, makes Portico a resource server for the access tokens of this
	// external OpenID Connect provider, instead of running its own authorization server
	// (docs/smart.md, "External OpenID Connect provider"). It needs OIDCAudience.
	OIDCIssuer string
	// OIDCAudience is a value the tokens' aud must contain.
	OIDCAudience string
	// OIDCScopeClaim, OIDCPatientClaim and OIDCFHIRUserClaim name the claims with the scopes
	// (string or array; "scope" falls back to "scp"), the launch patient and the user's FHIR
	// resource.
	OIDCScopeClaim, OIDCPatientClaim, OIDCFHIRUserClaim string

	// PasswordHashes is how many argon2id password and client-secret checks run at once
	// (each holds 64 MiB); more wait briefly or get 503 (smart.Config.PasswordHashes).
	PasswordHashes int

	// AuthRateLimit is how many requests per second /auth/token, /auth/introspect and
	// /auth/revoke take from one client address and from one authenticated client (bursts of
	// twice that); 0: no limit.
	AuthRateLimit float64

	// ReadTimeout bounds reading a whole request, body included; WriteTimeout the time from
	// the end of the request's headers to the end of the response; IdleTimeout how long a
	// keep-alive connection waits for the next request. 0: the defaults of Defaults.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// SearchTimeout bounds each search and history page of the FHIR API (a Bundle's entries and
	// an _include each count as one): one still running is stopped and answered 503
	// too-costly. 0: no bound.
	SearchTimeout time.Duration

	// TrustedProxies lists the reverse proxies (CIDRs or addresses, separated by commas or
	// spaces) whose X-Forwarded-For or Forwarded header gives the client's address; "" trusts
	// none, and the TCP peer is the client (clientaddr.Resolver).
	TrustedProxies string
	// StaffReach is what a practitioner's user/ scopes reach: "organization" (the default:
	// the patients of their organizations and care teams, and those whose general
	// practitioner they are) or "all" (docs/smart.md, "The policy").
	StaffReach string

	// RateLimitAddress, RateLimitClient and RateLimitWrites are the FHIR API's rate limits, in
	// requests per second (bursts of twice that): from one client address, of one client acting
	// for one user, and that caller's writes. 0: no limit (apiLimits, docs/operations.md).
	RateLimitAddress, RateLimitClient, RateLimitWrites float64
	// RateLimitIndexEntries is the search index entries that one client acting for one user
	// may write per second (bursts of twice that). 0: no limit.
	RateLimitIndexEntries float64
	// ClientConcurrency is how many requests one client acting for one user may have in flight
	// at once; more wait for a free slot (up to maxSlotWait), then 429. 0: no limit.
	ClientConcurrency int

	// MaxBundleEntries caps the entries of a batch or transaction Bundle (413 above it).
	MaxBundleEntries int

	// TLSCert and TLSKey, when set, make Portico serve HTTPS with this certificate chain and
	// key (PEM files, read again when they change: tls.go).
	TLSCert, TLSKey string
	// HSTSMaxAge is the max-age of the Strict-Transport-Security header sent when the public
	// base URL is https (0: none).
	HSTSMaxAge time.Duration

	// CORSOrigins lists the origins (scheme://host[:port], comma-separated) whose browser pages
	// may call the FHIR API; "*" is any origin; "" (the default) none. See cors.go.
	CORSOrigins string

	// Metrics serves Prometheus metrics at /metrics on the main listener, unauthenticated
	// like /healthz (docs/operations.md, "Metrics"); false neither collects nor serves them.
	Metrics bool
	// OTLPEndpoint, when set, exports OpenTelemetry traces over OTLP/HTTP to this collector
	// base URL (spans go to its /v1/traces); without it the standard
	// OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables switch
	// traces on. Neither: no tracing at all (docs/operations.md, "Traces").
	OTLPEndpoint string

	// Demo serves the /demo SMART app beside the FHIR base and registers its public client
	// (demo.ClientID). Off by default: a production portal should not offer it.
	Demo bool
}

// The HTTP server's timeouts: a request's body must arrive within a minute (8 MiB, the default
// --max-body-bytes, at ~1 Mbit/s), its answer within two; slower clients cannot hold a
// connection (and its goroutine and buffers) forever.
const (
	defaultReadTimeout  = time.Minute
	defaultWriteTimeout = 2 * time.Minute
	defaultIdleTimeout  = 2 * time.Minute

	// defaultSearchTimeout: a patient app's searches take milliseconds, a staff list or a
	// count over a large store well under a second; a search within every documented cap
	// that ran tens of seconds (chained :missing criteria with _total and _sort) held a read
	// connection that long.
	defaultSearchTimeout = 10 * time.Second
)

// defaultQuickCheck bounds the start-up integrity check of the embedded store. quick_check
// reads every page: a few hundred MB per second from the page cache, so a store of a few GB is
// checked whole; a larger one is checked only as far as the bound allows (and then reported
// as unchecked), so that readiness is not held back for minutes.
const defaultQuickCheck = 10 * time.Second

// orDefault is d, or def when d is 0.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// maxBundleEntries is the most --max-bundle-entries may allow: a transaction is written at
// once, and its entries are held in memory together.
const maxBundleEntries = 100_000

// defaultHSTSMaxAge is a year, what browsers' preload lists ask for.
const defaultHSTSMaxAge = 365 * 24 * time.Hour

// smartRateLimit is AuthRateLimit as smart.Config.RateLimit takes it (negative: none).
func (c Config) smartRateLimit() float64 {
	if c.AuthRateLimit == 0 {
		return -1
	}
	return c.AuthRateLimit
}

// oidcConfig is the smart configuration of the external-provider mode.
func (c Config) oidcConfig(log *slog.Logger) smart.OIDCConfig {
	return smart.OIDCConfig{
		Issuer: c.OIDCIssuer, Audience: c.OIDCAudience, BaseURL: c.BaseURL,
		ScopeClaim: c.OIDCScopeClaim, PatientClaim: c.OIDCPatientClaim, FHIRUserClaim: c.OIDCFHIRUserClaim,
		Logger: log,
	}
}

// Defaults returns the configuration `go run .` uses.
func Defaults() Config {
	return Config{
		Addr:             ":8080",
		DataDir:          "./portico-data",
		BaseURL:          "http://localhost:8080/fhir",
		LogLevel:         "info",
		SQLiteSync:       "full",
		SQLiteQuickCheck: defaultQuickCheck,
		MaxBodyBytes:     8 << 20,
		Auth:             AuthSMART,
		Triage:           true,
		StaffReach:       "organization",
		Metrics:          true,

		PasswordHashes: smart.DefaultPasswordHashes,
		ReadTimeout:    defaultReadTimeout,
		WriteTimeout:   defaultWriteTimeout,
		IdleTimeout:    defaultIdleTimeout,
		SearchTimeout:  defaultSearchTimeout,
		AuthRateLimit:  smart.DefaultRateLimit,

		RateLimitAddress:      defaultAddressRateLimit,
		RateLimitClient:       defaultClientRateLimit,
		RateLimitWrites:       defaultWriteRateLimit,
		RateLimitIndexEntries: defaultIndexRateLimit,
		ClientConcurrency:     defaultClientConcurrency(),
		MaxBundleEntries:      api.DefaultMaxBundleEntries,
		HSTSMaxAge:            defaultHSTSMaxAge,

		OIDCScopeClaim:    "scope",
		OIDCPatientClaim:  "patient",
		OIDCFHIRUserClaim: "fhirUser",
	}
}

// Validate reports every configuration problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr: must not be empty"))
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base-url: %q is not an absolute http(s) URL", c.BaseURL))
	} else if strings.HasSuffix(c.BaseURL, "/") {
		errs = append(errs, fmt.Errorf("base-url: %q must not end with '/'", c.BaseURL))
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.SQLiteMmapMB < 0 || int64(c.SQLiteMmapMB)<<20 > sqlite.MaxMmapSize {
		errs = append(errs, fmt.Errorf("sqlite-mmap-mb: %d: want 0 to %d", c.SQLiteMmapMB, sqlite.MaxMmapSize>>20))
	}
	if c.SQLiteQuickCheck < 0 {
		errs = append(errs, fmt.Errorf("sqlite-quick-check: %v: must not be negative (0 skips the check)", c.SQLiteQuickCheck))
	}
	switch c.SQLiteSync {
	case "", "full", "strict", "normal":
	default:
		errs = append(errs, fmt.Errorf("sqlite-sync: %q: want full, strict or normal", c.SQLiteSync))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("max-body-bytes: must be positive"))
	}
	switch c.Auth {
	case "", AuthSMART, AuthNone: // "": smart
	default:
		errs = append(errs, fmt.Errorf("auth: %q is not smart or none", c.Auth))
	}
	if _, err := policy.ParseStaffReach(c.StaffReach); err != nil {
		errs = append(errs, fmt.Errorf("staff-reach: %w", err))
	}
	if _, _, err := storeOpener(c.Store); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.triageHook(); err != nil {
		errs = append(errs, err)
	}
	if c.OIDCIssuer != "" || c.OIDCAudience != "" {
		if c.Auth == AuthNone {
			errs = append(errs, errors.New("oidc-issuer: needs --auth=smart (tokens required)"))
		}
		if err := c.oidcConfig(nil).Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.PasswordHashes < 0 || c.PasswordHashes > 64 { // 0: smart's default
		errs = append(errs, fmt.Errorf("password-hashes: %d: want 1 to 64 (0: the default; each holds 64 MiB while it runs)", c.PasswordHashes))
	}
	for name, d := range map[string]time.Duration{"read-timeout": c.ReadTimeout, "write-timeout": c.WriteTimeout, "idle-timeout": c.IdleTimeout,
		"search-timeout": c.SearchTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: %v: must not be negative", name, d))
		}
	}
	if c.AuthRateLimit < 0 {
		errs = append(errs, fmt.Errorf("auth-rate-limit: %v: want 0 (no limit) or more", c.AuthRateLimit))
	}
	for name, r := range map[string]float64{"rate-limit-address": c.RateLimitAddress, "rate-limit-client": c.RateLimitClient, "rate-limit-writes": c.RateLimitWrites,
		"rate-limit-index-entries": c.RateLimitIndexEntries} {
		if r < 0 {
			errs = append(errs, fmt.Errorf("%s: %v: want 0 (no limit) or more", name, r))
		}
	}
	if c.ClientConcurrency < 0 {
		errs = append(errs, fmt.Errorf("client-concurrency: %d: want 0 (no limit) or more", c.ClientConcurrency))
	}
	if c.MaxBundleEntries < 0 || c.MaxBundleEntries > maxBundleEntries {
		errs = append(errs, fmt.Errorf("max-bundle-entries: %d: want 1 to %d (0: %d)", c.MaxBundleEntries, maxBundleEntries, api.DefaultMaxBundleEntries))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key: give both or neither"))
	} else if c.TLSCert != "" {
		if _, err := loadKeyPair(c.TLSCert, c.TLSKey); err != nil {
			errs = append(errs, err)
		}
	}
	if c.HSTSMaxAge < 0 {
		errs = append(errs, fmt.Errorf("hsts-max-age: %v: must not be negative", c.HSTSMaxAge))
	}
	if _, err := clientaddr.ParseTrusted(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseCORSOrigins(c.CORSOrigins); err != nil {
		errs = append(errs, err)
	}
	if c.OTLPEndpoint != "" {
		if err := telemetry.CheckEndpoint(c.OTLPEndpoint); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Demo && (c.Auth == AuthNone || c.OIDCIssuer != "") {
		errs = append(errs, errors.New("demo: needs Portico's own authorization server (--auth=smart without --oidc-issuer)"))
	}
	return errors.Join(errs...)
}

// triageHook loads and checks the triage rule file and configuration and returns the write
// hook (nil when triage is off). Every problem of both files is reported.
func (c Config) triageHook() (*triagehook.Hook, error) {
	if !c.Triage {
		if c.TriageProtocols != "" || c.TriageConfig != "" {
			return nil, errors.New("triage: --triage-protocols and --triage-config need --triage=true")
		}
		return nil, nil
	}
	var errs []error
	e, err := triage.New(c.TriageProtocols)
	if err != nil {
		errs = append(errs, fmt.Errorf("triage-protocols: %w", err))
	}
	cfg, err := triagehook.LoadConfig(c.TriageConfig)
	if err != nil {
		errs = append(errs, fmt.Errorf("triage-config: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return triagehook.New(e, cfg)
}

// ParseLevel maps a --log-level value to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log-level: %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}
