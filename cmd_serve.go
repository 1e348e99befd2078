package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/portico-health/portico/internal/buildinfo"
	"github.com/portico-health/portico/server"
)

// serveUsage starts `portico serve --help`.
const serveUsage = `usage: portico [serve] [flags]

Serves the FHIR R4 API, the SMART authorization server, /healthz and /readyz. Every flag can
also be set with PORTICO_<FLAG> (PORTICO_DATA_DIR); a flag on the command line wins.`

// serveFlags defines the flags of `portico serve` on a new flag set, over the defaults. `portico
// help` lists the environment variables from it.
func serveFlags() (*flag.FlagSet, *server.Config, *int) {
	cfg := server.Defaults()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the embedded store")
	fs.StringVar(&cfg.BaseURL, "base-url", cfg.BaseURL, "public FHIR base URL, as clients reach it")
	fs.StringVar(&cfg.Store, "store", cfg.Store, `store backend: "" or "sqlite" (embedded, in --data-dir), "sqlite:/dir", or a mongodb:// or mongodb+srv:// connection string`)
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest accepted request body, in bytes (larger: 413)")
	fs.StringVar(&cfg.SQLiteSync, "sqlite-sync", cfg.SQLiteSync, "when the embedded store acknowledges a write: full (after the WAL fsync), strict (full, nothing readable before it) or normal (no fsync: not power-loss safe)")
	fs.DurationVar(&cfg.SQLiteQuickCheck, "sqlite-quick-check", cfg.SQLiteQuickCheck, "longest integrity check (PRAGMA quick_check) of the embedded store at start; /readyz answers 503 while it runs and after it found damage (0: no check)")
	fs.IntVar(&cfg.SQLiteMmapMB, "sqlite-mmap-mb", cfg.SQLiteMmapMB, "MiB of the embedded store's file each reader maps into memory (0: none; mapped pages count as resident memory)")
	fs.StringVar(&cfg.Auth, "auth", cfg.Auth, `"smart": SMART on FHIR tokens required on the FHIR API; "none": an open server, for local development only`)
	fs.BoolVar(&cfg.Triage, "triage", cfg.Triage, "triage patient messages (Communication from a Patient or RelatedPerson)")
	fs.StringVar(&cfg.TriageProtocols, "triage-protocols", cfg.TriageProtocols, "triage red-flag protocol file (JSON); empty: the shipped protocols")
	fs.StringVar(&cfg.TriageConfig, "triage-config", cfg.TriageConfig, "triage configuration (JSON: routing, clinic calendar, answer targets, automatic replies); empty: the shipped default")
	fs.StringVar(&cfg.OIDCIssuer, "oidc-issuer", cfg.OIDCIssuer, "issuer URL of an external OpenID Connect provider whose access tokens Portico accepts instead of running its own authorization server (needs --oidc-audience)")
	fs.StringVar(&cfg.OIDCAudience, "oidc-audience", cfg.OIDCAudience, "with --oidc-issuer: a value the access tokens' aud must contain (usually the FHIR base URL)")
	fs.StringVar(&cfg.OIDCScopeClaim, "oidc-scope-claim", cfg.OIDCScopeClaim, `with --oidc-issuer: the claim with the SMART scopes, a space-separated string or an array ("scope" falls back to "scp")`)
	fs.StringVar(&cfg.OIDCPatientClaim, "oidc-patient-claim", cfg.OIDCPatientClaim, "with --oidc-issuer: the claim with the launch patient's id")
	fs.StringVar(&cfg.OIDCFHIRUserClaim, "oidc-fhir-user-claim", cfg.OIDCFHIRUserClaim, "with --oidc-issuer: the claim with the user's FHIR resource (Type/id or a URL ending in it)")
	fs.IntVar(&cfg.PasswordHashes, "password-hashes", cfg.PasswordHashes, "argon2id password and client-secret checks run at once (64 MiB each); beyond, a few wait up to 2 s and the rest get 503 with Retry-After")
	fs.Float64Var(&cfg.AuthRateLimit, "auth-rate-limit", cfg.AuthRateLimit, "requests per second /auth/token, /auth/introspect and /auth/revoke take from one client address and from one authenticated client, in bursts of twice that (0: no limit); beyond: 429 with Retry-After")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "longest time to read a whole request, body included (slower clients are cut off)")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "longest time from the end of a request's headers to the end of its response")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "how long a keep-alive connection may wait for its next request")
	fs.DurationVar(&cfg.SearchTimeout, "search-timeout", cfg.SearchTimeout, "longest one FHIR search or history page may run before it is stopped and answered 503 too-costly (0: no limit)")
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", cfg.TrustedProxies, "reverse proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For or Forwarded header gives the client address; empty: the TCP peer is the client")
	fs.Float64Var(&cfg.RateLimitAddress, "rate-limit-address", cfg.RateLimitAddress, "FHIR API requests per second from one client address, in bursts of twice that (0: no limit); beyond: 429 with Retry-After")
	fs.Float64Var(&cfg.RateLimitClient, "rate-limit-client", cfg.RateLimitClient, "FHIR API requests per second of one client acting for one user (or one backend service), in bursts of twice that (0: no limit)")
	fs.Float64Var(&cfg.RateLimitIndexEntries, "rate-limit-index-entries", cfg.RateLimitIndexEntries, "search index entries (codes, references, names... of the resources written) per second of one client acting for one user, in bursts of twice that (0: no limit)")
	fs.Float64Var(&cfg.RateLimitWrites, "rate-limit-writes", cfg.RateLimitWrites, "FHIR API writes (POST, PUT, PATCH, DELETE) per second of one client acting for one user, in bursts of twice that (0: no limit)")
	fs.IntVar(&cfg.ClientConcurrency, "client-concurrency", cfg.ClientConcurrency, "FHIR API requests in flight at once of one user (over all their apps) or one backend client; more wait up to 5 s for their turn, then 429 (0: no limit; default: half the CPUs, at least 1)")
	fs.IntVar(&cfg.MaxBundleEntries, "max-bundle-entries", cfg.MaxBundleEntries, "most entries of a batch or transaction Bundle (more: 413)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "serve HTTPS with this PEM certificate chain (needs --tls-key; both files are read again when they change)")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "the PEM private key of --tls-cert")
	fs.DurationVar(&cfg.HSTSMaxAge, "hsts-max-age", cfg.HSTSMaxAge, "max-age of the Strict-Transport-Security header sent when --base-url is https (0: none)")
	memoryLimitMB := defaultMemoryLimitMB
	fs.IntVar(&memoryLimitMB, "memory-limit-mb", memoryLimitMB, "soft limit of the Go heap in MiB, so that garbage is collected before the process grows (0: none; the GOMEMLIMIT environment variable, when set, wins)")
	fs.StringVar(&cfg.StaffReach, "staff-reach", cfg.StaffReach, "what a practitioner's user/ scopes reach: organization (their organizations' and care teams' patients) or all")
	fs.StringVar(&cfg.CORSOrigins, "cors-origins", cfg.CORSOrigins, `origins whose browser pages may call the FHIR API (scheme://host[:port], comma-separated; "*": any origin, for public read-only data); empty: none`)
	fs.BoolVar(&cfg.Metrics, "metrics", cfg.Metrics, "serve Prometheus metrics at /metrics, unauthenticated like /healthz: keep it off the public internet at the reverse proxy")
	fs.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", cfg.OTLPEndpoint, "export OpenTelemetry traces over OTLP/HTTP to this collector base URL (http://collector:4318; spans go to its /v1/traces); empty: only if OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set")
	fs.BoolVar(&cfg.Demo, "demo", cfg.Demo, "serve the /demo SMART patient-portal app and register its public client portico-demo (needs --auth=smart)")
	return fs, &cfg, &memoryLimitMB
}

// runServe implements `portico serve`.
func runServe(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs, c, limit := serveFlags()
	if code, done := parseCommand(fs, args, serveUsage, stdout, stderr); done {
		return code
	}
	cfg, memoryLimitMB := *c, *limit
	level, err := server.ParseLevel(cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, "portico serve:", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	if memoryLimitMB < 0 {
		fmt.Fprintln(stderr, "portico serve: --memory-limit-mb must be >= 0")
		return 2
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && memoryLimitMB > 0 {
		debug.SetMemoryLimit(int64(memoryLimitMB) << 20)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		srv.Close()
		log.Error("cannot listen", "addr", cfg.Addr, "error", err)
		return 1
	}
	log.Info("serving FHIR R4", "version", buildinfo.Version(), "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "data_dir", cfg.DataDir, "auth", cfg.Auth)
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("server stopped with an error", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// defaultMemoryLimitMB is the Go heap's default soft limit. The live heap is ~42 MB at rest, of
// which the triage lexicons are ~32 MB (SQLite's caches are outside it; at 65 MB of lexicons
// the idle server collected five times a second, 0.16 core, above this limit); under load, GOGC alone let garbage double the process's
// memory (peak 241 MB in the load tool's create phase, 135 MB with this limit, and more creates
// per second: docs/benchmarks.md, "Memory"). The runtime caps the collector at half the CPU
// when the live heap itself exceeds the limit, so a large transaction slows down rather than
// fails.
const defaultMemoryLimitMB = 64
