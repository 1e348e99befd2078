package smart

import (
	"context"
	"errors"
	"fmt"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/policy"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/store"
)

// Config configures the authorization server.
type Config struct {
	Store   store.Store  // required: apps, users, keys, replay and revocation records
	BaseURL string       // required: the public FHIR base, e.g. "https://portal.example/fhir"
	Logger  *slog.Logger // nil: discard

	// AuthBaseURL is where the /auth routes are reached and the issuer of Portico's tokens;
	// "" means BaseURL with its last path segment replaced by "auth"
	// (https://portal.example/fhir → https://portal.example/auth).
	AuthBaseURL string

	AccessTokenTTL time.Duration // 0: one hour; client_credentials tokens get at most 5 minutes
	HTTPClient     *http.Client  // fetches clients' JWKS URLs; nil: a client with a 10 s timeout
	Now            func() time.Time

	// PasswordHashes is how many argon2id checks of passwords and client secrets run at once
	// (each holds 64 MiB); 0: DefaultPasswordHashes. Beyond it a few wait briefly, the others
	// get 503 with Retry-After.
	PasswordHashes int

	// RateLimit is how many requests per second the token, introspection and revocation
	// endpoints take from one client address and from one authenticated client (bursts of
	// twice that); 0: DefaultRateLimit, negative: no limit. Beyond it: 429 with Retry-After.
	RateLimit float64

	// Policy decides what a token reaches, for the pages and endpoints of the authorization
	// server that look at FHIR data (the patient picker, EHR launch); nil: policy.New with
	// default options. The FHIR API must be given the same policy.
	Policy *policy.Policy

	// ObserveToken, when set, is told the outcome of every request to the token endpoint
	// past its rate limit: the grant_type as sent, and the OAuth error code answered ("" when
	// a token was issued). The server counts them in its metrics.
	ObserveToken func(grantType, errorCode string)

	// SweepInterval is how often expired codes, refresh tokens, replay and revocation records
	// and launch handles are deleted (sweep.go); 0: DefaultSweepInterval, negative: never.
	// Close stops the sweeper.
	SweepInterval time.Duration
}

// Server is the authorization server: discovery, JWKS, token, introspection and revocation
// endpoints, and Authenticate for the resource server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	st       store.Store
	keys     *KeySet
	registry *Registry
	jwks     *jwksCache
	tokens   tokenCache    // access tokens verified recently
	data     *guard.Source // FHIR data as a principal sees it (picker, launch)
	sweep    *sweeper      // nil when not sweeping
	login    *loginThrottle
	limits   *rateLimits // nil: no rate limits

	issuer   string // = auth base URL
	origin   string // scheme://host of the issuer: where the authorization pages post from
	audience string // = FHIR base URL
}

// Paths of the routes Register adds (under AuthBaseURL's path, and the FHIR base's path).
const (
	pathJWKS       = "/jwks"
	pathToken      = "/token"
	pathIntrospect = "/introspect"
	pathRevoke     = "/revoke"
	pathAuthorize  = "/authorize"
	pathOpenIDConf = "/.well-known/openid-configuration"
	pathSMARTConf  = "/.well-known/smart-configuration"
	pathStyle      = "/smart-style.json"
	pathLaunch     = "/launch"
)

// New checks cfg, loads (or on first use creates) the signing keys, and returns the server.
func New(cfg Config) (*Server, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("smart: Config.Store is required"))
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || strings.HasSuffix(cfg.BaseURL, "/") {
		errs = append(errs, fmt.Errorf("smart: BaseURL %q is not an absolute http(s) URL without trailing slash", cfg.BaseURL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.AuthBaseURL == "" {
		p := base.Path
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			p = p[:i]
		}
		cfg.AuthBaseURL = base.Scheme + "://" + base.Host + p + "/auth"
	}
	cfg.AuthBaseURL = strings.TrimSuffix(cfg.AuthBaseURL, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = time.Hour
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Policy == nil {
		cfg.Policy = policy.New(policy.Options{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys, err := loadKeys(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	data, err := guard.New(guard.Config{Store: cfg.Store, Policy: cfg.Policy, BaseURL: cfg.BaseURL, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, st: cfg.Store, keys: keys, data: data,
		registry: newRegistry(cfg.Store, cfg.PasswordHashes),
		jwks:     newJWKSCache(cfg.HTTPClient),
		login:    newLoginThrottle(cfg.Now),
		limits:   newRateLimits(cfg.RateLimit),
		issuer:   cfg.AuthBaseURL,
		origin:   originOf(cfg.AuthBaseURL),
		audience: cfg.BaseURL,
	}
	keys.onReload = s.tokens.reset
	s.startSweeper(cfg.SweepInterval)
	return s, nil
}

// Registry is the app and user registry the server uses.
func (s *Server) Registry() *Registry { return s.registry }

// Issuer is the iss of Portico's tokens, also the OpenID Connect issuer.
func (s *Server) Issuer() string { return s.issuer }

// TokenURL is the token endpoint; client assertions must carry it as aud.
func (s *Server) TokenURL() string { return s.issuer + pathToken }

// Register adds the public routes: the SMART configuration beside the FHIR base, the OpenID
// configuration and JWKS, and the token, introspection and revocation endpoints. None of them
// takes a bearer token from the API's authentication; the token endpoints authenticate clients
// themselves. Browser apps call them from their own origins: the server answers CORS for
// them (CrossOriginPaths).
func (s *Server) Register(e *echo.Echo) {
	fhirPath := mustPath(s.cfg.BaseURL)
	authPath := mustPath(s.issuer)
	get := func(path string, h http.HandlerFunc) { e.GET(path, echo.WrapHandler(h)) }
	post := func(path string, h http.HandlerFunc) { e.POST(path, echo.WrapHandler(h)) }
	get(fhirPath+pathSMARTConf, s.smartConfiguration)
	get(authPath+pathOpenIDConf, s.openIDConfiguration)
	get(authPath+pathJWKS, s.serveJWKS)
	post(authPath+pathToken, s.limitAddr(s.token))
	post(authPath+pathIntrospect, s.limitAddr(s.introspect))
	post(authPath+pathRevoke, s.limitAddr(s.revoke))
	get(authPath+pathStyle, s.smartStyle)
	post(authPath+pathLaunch, s.limitAddr(s.launch)) // each launch writes a record
	e.GET(authPath+pathAuthorize, echo.WrapHandler(http.HandlerFunc(s.authorize)))
	e.POST(authPath+pathAuthorize, echo.WrapHandler(http.HandlerFunc(s.authorize)))
}

// CrossOriginPaths are the URL paths of the routes Register adds that browser apps of any
// origin must be able to call (CORS): every one but the authorization pages, which the browser
// navigates to. They read no cookies: a page of another origin gains nothing by calling them
// that a script outside a browser could not.
func (s *Server) CrossOriginPaths() []string {
	fhirPath, authPath := mustPath(s.cfg.BaseURL), mustPath(s.issuer)
	return []string{fhirPath + pathSMARTConf, authPath + pathOpenIDConf, authPath + pathJWKS, authPath + pathToken,
		authPath + pathIntrospect, authPath + pathRevoke, authPath + pathStyle, authPath + pathLaunch}
}

// audienceMatches reports whether aud names the FHIR base URL base. One trailing slash on
// either is not a difference: a SMART client configured with the base "https://x/fhir/" sends
// that as aud (and as the resource it asks a provider for). Nothing else is normalised: case,
// ports, percent-encoding and a second slash must match exactly.
func audienceMatches(aud, base string) bool {
	return aud != "" && strings.TrimSuffix(aud, "/") == strings.TrimSuffix(base, "/")
}

// originOf is the scheme://host of an absolute URL, as browsers send it in Origin.
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

func mustPath(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		panic(err) // checked in New
	}
	return strings.TrimSuffix(p.Path, "/")
}

// viewAs is the FHIR data as principal p may see it.
func (s *Server) viewAs(p policy.Principal) *guard.View { return s.data.ViewAs(p) }
