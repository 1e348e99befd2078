package smart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/policy"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
)

// OIDCConfig configures Portico as a resource server for the access tokens of an external
// OpenID Connect provider (the hospital's identity provider), instead of its own
// authorization server. See docs/smart.md, "External OpenID Connect provider".
type OIDCConfig struct {
	// Issuer is the provider's issuer URL, exactly as its discovery document and its tokens'
	// iss say. https, or http on a loopback host (for tests).
	Issuer string
	// Audience is a value the access token's aud must contain (Portico's resource identifier
	// at the provider, usually the FHIR base URL).
	Audience string
	// BaseURL is the public FHIR base: the realm of the challenges and where the SMART
	// configuration is served.
	BaseURL string

	// ScopeClaim names the claim with the granted scopes: a space-separated string or an array
	// of strings. "" is "scope"; when the token has no "scope" claim, "scp" is read.
	ScopeClaim string
	// PatientClaim names the claim with the launch patient's id ("123" or "Patient/123").
	// "" is "patient".
	PatientClaim string
	// FHIRUserClaim names the claim with the user's FHIR resource ("Practitioner/7", or an
	// absolute URL ending in Type/id). "" is "fhirUser".
	FHIRUserClaim string

	Logger     *slog.Logger     // nil: discard
	HTTPClient *http.Client     // for discovery and the JWKS; nil: a client with a 10 s timeout
	Now        func() time.Time // nil: time.Now

	// RetryMin and RetryMax bound the backoff between discovery attempts while the provider
	// cannot be reached (0: 1 s and 1 minute).
	RetryMin, RetryMax time.Duration
}

// Default claim names (SMART App Launch 2.2 and RFC 9068 / RFC 8693).
const (
	defaultScopeClaim    = "scope"
	altScopeClaim        = "scp"
	defaultPatientClaim  = "patient"
	defaultFHIRUserClaim = "fhirUser"
)

// oidcAlgs are the signature algorithms accepted: asymmetric only. "none" and the HMAC
// algorithms (which a verifier holding only public keys would check with a public key as the
// secret) are never accepted.
var oidcAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// Validate reports every problem of the configuration at once. It does not contact the
// provider.
func (c OIDCConfig) Validate() error {
	var errs []error
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		errs = append(errs, errors.New("oidc-issuer: required"))
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, fmt.Errorf("oidc-issuer: %q is not an absolute URL without query, fragment or user info", c.Issuer))
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		errs = append(errs, fmt.Errorf("oidc-issuer: %q must be https (http is allowed on a loopback host only)", c.Issuer))
	}
	if strings.TrimSpace(c.Audience) == "" {
		errs = append(errs, errors.New("oidc-audience: required with --oidc-issuer (the value the access tokens' aud must contain)"))
	}
	for _, cl := range []struct{ flag, v string }{
		{"oidc-scope-claim", c.ScopeClaim}, {"oidc-patient-claim", c.PatientClaim}, {"oidc-fhir-user-claim", c.FHIRUserClaim},
	} {
		if strings.ContainsAny(cl.v, " \t\n\"") {
			errs = append(errs, fmt.Errorf("%s: %q is not a claim name", cl.flag, cl.v))
		}
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// OIDC is the resource server for an external provider's access tokens. It discovers the
// provider in the background (Start) and, once it has, verifies bearer tokens with the
// provider's JWKS and turns them into the same Principal Portico's own tokens give, so that
// Authorize applies unchanged.
type OIDC struct {
	cfg  OIDCConfig
	log  *slog.Logger
	keys *oidcKeys

	state  atomic.Pointer[oidcState] // nil until discovery succeeded
	tokens tokenCache

	mu      sync.Mutex
	lastErr error // the last discovery failure, for Ready
	stop    context.CancelFunc
	done    chan struct{}
}

// oidcState is what discovery found.
type oidcState struct {
	verifier *oidc.IDTokenVerifier
	doc      providerDoc
}

// providerDoc is the part of the provider's discovery document Portico passes on to apps.
type providerDoc struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	GrantTypes            []string `json:"grant_types_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthAlgs         []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ResponseTypes         []string `json:"response_types_supported"`
	Scopes                []string `json:"scopes_supported"`
}

// NewOIDC checks cfg and returns the resource server; it contacts nobody until Start.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil || cfg.BaseURL == "" {
		return nil, fmt.Errorf("smart: BaseURL %q is not a URL", cfg.BaseURL)
	}
	if cfg.ScopeClaim == "" {
		cfg.ScopeClaim = defaultScopeClaim
	}
	if cfg.PatientClaim == "" {
		cfg.PatientClaim = defaultPatientClaim
	}
	if cfg.FHIRUserClaim == "" {
		cfg.FHIRUserClaim = defaultFHIRUserClaim
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(time.Minute, cfg.RetryMin)
	}
	o := &OIDC{cfg: cfg, log: cfg.Logger, lastErr: errors.New("the OpenID provider has not been discovered yet")}
	o.keys = newOIDCKeys(cfg.HTTPClient, cfg.Now, o.tokens.reset, cfg.Logger)
	return o, nil
}

// Start discovers the provider: once now, then, while that fails (provider down, bad
// document), again in the background with exponential backoff until it succeeds or Close is
// called. Until then Ready returns the failure and every token is refused as unavailable.
func (o *OIDC) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	o.mu.Lock()
	o.stop, o.done = cancel, make(chan struct{})
	o.mu.Unlock()
	go func() {
		defer close(o.done)
		wait := o.cfg.RetryMin
		for {
			err := o.discover(ctx)
			if err == nil {
				o.log.Info("OpenID provider discovered", "issuer", o.cfg.Issuer)
				return
			}
			o.mu.Lock()
			o.lastErr = err
			o.mu.Unlock()
			o.log.Warn("OpenID provider discovery failed; FHIR requests answer 503 until it succeeds", "issuer", o.cfg.Issuer, "retry_in", wait.String(), "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(wait*2, o.cfg.RetryMax)
		}
	}()
}

// Close stops the discovery retries, if any.
func (o *OIDC) Close() {
	o.mu.Lock()
	stop, done := o.stop, o.done
	o.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// discover reads the provider's discovery document (go-oidc checks that its issuer is
// exactly cfg.Issuer) and fetches its JWKS once, so that ready means tokens can be checked.
func (o *OIDC) discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.cfg.HTTPClient), o.cfg.Issuer)
	if err != nil {
		return err
	}
	var doc providerDoc
	if err := p.Claims(&doc); err != nil {
		return fmt.Errorf("discovery document: %w", err)
	}
	if doc.JWKSURI == "" {
		return errors.New("the discovery document has no jwks_uri")
	}
	if err := o.keys.init(ctx, doc.JWKSURI); err != nil {
		return err
	}
	v := oidc.NewVerifier(o.cfg.Issuer, o.keys, &oidc.Config{
		SkipClientIDCheck:    true, // aud is checked in verify, a trailing slash aside
		SupportedSigningAlgs: oidcAlgs,
		SkipExpiryCheck:      true, // checked below with Portico's clock skew
	})
	o.state.Store(&oidcState{verifier: v, doc: doc})
	return nil
}

// Ready is nil once the provider has been discovered, else the last failure.
func (o *OIDC) Ready() error {
	if o.state.Load() != nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return fmt.Errorf("OpenID provider %s: %w", o.cfg.Issuer, o.lastErr)
}

// ErrProviderUnavailable is what Authenticate returns before the provider was discovered:
// the caller should answer 503, not 401, since the token may well be valid.
var ErrProviderUnavailable = errors.New("smart: the OpenID provider has not been discovered yet")

// Endpoints are the provider's authorization and token endpoints, for the
// CapabilityStatement's oauth-uris (its introspection and revocation endpoints are in the
// SMART configuration); ok is false before discovery.
func (o *OIDC) Endpoints() (authorize, token string, ok bool) {
	st := o.state.Load()
	if st == nil {
		return "", "", false
	}
	return st.doc.AuthorizationEndpoint, st.doc.TokenEndpoint, true
}

// Authenticate returns who is calling, from the request's bearer token, as Server.Authenticate
// does for Portico's own tokens: ErrNoToken without one, an error matching ErrInvalidToken for
// a bad one (HTTP 401), ErrProviderUnavailable before discovery (HTTP 503).
func (o *OIDC) Authenticate(r *http.Request) (policy.Principal, error) {
	token, err := bearerToken(r)
	if err != nil {
		return policy.Principal{}, err
	}
	return o.VerifyAccessToken(r.Context(), token)
}

// VerifyAccessToken checks an access token of the provider: a JWS signed with an asymmetric
// algorithm by a key of the provider's JWKS, iss exactly the issuer, aud containing the
// audience, exp required and nbf and iat respected (with a clock skew of clockSkew), and
// well-formed SMART scopes and launch claims. Opaque tokens are refused: Portico does not
// call the provider's introspection endpoint.
func (o *OIDC) VerifyAccessToken(ctx context.Context, token string) (policy.Principal, error) {
	if len(token) > 16<<10 {
		return policy.Principal{}, wrap(ErrInvalidToken, errors.New("token too long"), "the access token is invalid or expired")
	}
	st := o.state.Load()
	if st == nil {
		return policy.Principal{}, ErrProviderUnavailable
	}
	now := o.cfg.Now()
	if p, ok := o.tokens.get(token, now); ok {
		return p, nil
	}
	p, err := o.verify(ctx, st, token, now)
	if err != nil {
		return policy.Principal{}, err
	}
	o.tokens.put(token, p, now)
	return p, nil
}

func (o *OIDC) verify(ctx context.Context, st *oidcState, token string, now time.Time) (policy.Principal, error) {
	invalid := func(description string, cause error) (policy.Principal, error) {
		return policy.Principal{}, wrap(ErrInvalidToken, cause, description)
	}
	if strings.Count(token, ".") != 2 {
		return invalid("the access token is not a JWT (opaque tokens are not accepted)", errors.New("not a JWS compact serialization"))
	}
	idt, err := st.verifier.Verify(ctx, token)
	if err != nil {
		return invalid("the access token is invalid or expired", err)
	}
	if !slices.ContainsFunc(idt.Audience, func(aud string) bool { return audienceMatches(aud, o.cfg.Audience) }) {
		return invalid("the access token is invalid or expired", fmt.Errorf("aud %q does not contain %q", idt.Audience, o.cfg.Audience))
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return invalid("the access token is invalid or expired", err)
	}
	var times struct {
		Exp *float64 `json:"exp"`
		Nbf *float64 `json:"nbf"`
		Iat *float64 `json:"iat"`
	}
	if err := idt.Claims(&times); err != nil {
		return invalid("the access token is invalid or expired", err)
	}
	switch {
	case times.Exp == nil:
		return invalid("the access token has no exp", errors.New("no exp"))
	case !now.Before(unixTime(*times.Exp).Add(clockSkew)):
		return invalid("the access token is invalid or expired", errors.New("expired"))
	case times.Nbf != nil && now.Add(clockSkew).Before(unixTime(*times.Nbf)):
		return invalid("the access token is not valid yet", errors.New("nbf in the future"))
	case times.Iat != nil && now.Add(clockSkew).Before(unixTime(*times.Iat)):
		return invalid("the access token is not valid yet", errors.New("iat in the future"))
	}

	scopeText, err := o.scopes(claims)
	if err != nil {
		return invalid("the access token's scopes are malformed", err)
	}
	scopes, _, err := policy.ParseScopes(scopeText)
	if err != nil {
		return invalid("the access token's scopes are malformed", err)
	}
	p := policy.Principal{Scopes: scopes, Subject: idt.Subject, ExpiresAt: unixTime(*times.Exp)}
	p.TokenID, _ = stringClaim(claims, "jti")
	if p.ClientID, _ = stringClaim(claims, "client_id"); p.ClientID == "" {
		p.ClientID, _ = stringClaim(claims, "azp")
	}
	if v, ok := stringClaim(claims, o.cfg.PatientClaim); ok && v != "" {
		if p.Patient, ok = patientID(v); !ok {
			return invalid(fmt.Sprintf("the access token's %s claim is not a Patient id", o.cfg.PatientClaim), errors.New("bad patient claim"))
		}
	} else if _, present := claims[o.cfg.PatientClaim]; present && !ok {
		return invalid(fmt.Sprintf("the access token's %s claim is not a string", o.cfg.PatientClaim), errors.New("bad patient claim"))
	}
	if v, ok := stringClaim(claims, "encounter"); ok && v != "" {
		if p.Encounter, ok = refID("Encounter", v); !ok {
			return invalid("the access token's encounter claim is not an Encounter id", errors.New("bad encounter claim"))
		}
	}
	if v, ok := stringClaim(claims, o.cfg.FHIRUserClaim); ok && v != "" {
		if p.FHIRUser, ok = fhirUserRef(v); !ok {
			return invalid(fmt.Sprintf("the access token's %s claim is not a FHIR resource reference", o.cfg.FHIRUserClaim), errors.New("bad fhirUser claim"))
		}
	} else if _, present := claims[o.cfg.FHIRUserClaim]; present && !ok {
		return invalid(fmt.Sprintf("the access token's %s claim is not a string", o.cfg.FHIRUserClaim), errors.New("bad fhirUser claim"))
	}
	return p, nil
}

// scopes returns the granted scopes as one space-separated string, from a string or an
// array claim.
func (o *OIDC) scopes(claims map[string]json.RawMessage) (string, error) {
	name := o.cfg.ScopeClaim
	raw, ok := claims[name]
	if !ok && name == defaultScopeClaim {
		name = altScopeClaim
		raw, ok = claims[name]
	}
	if !ok {
		return "", nil // no scopes: every request will be 403
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", fmt.Errorf("claim %s is neither a string nor an array of strings", name)
	}
	for _, v := range list {
		if v == "" || strings.ContainsAny(v, " \t\r\n") {
			return "", fmt.Errorf("claim %s has an element that is not one scope", name)
		}
	}
	return strings.Join(list, " "), nil
}

func stringClaim(claims map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := claims[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func unixTime(f float64) time.Time {
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9))
}

// patientID accepts "123" and "Patient/123".
func patientID(v string) (string, bool) { return refID("Patient", v) }

// refID accepts a bare id or "Type/id" for the given type.
func refID(typ, v string) (string, bool) {
	v = strings.TrimPrefix(v, typ+"/")
	return v, validFHIRID(v)
}

// fhirUserRef accepts "Type/id" or an absolute URL whose path ends in Type/id (SMART's
// fhirUser is a URL), and returns "Type/id".
func fhirUserRef(v string) (string, bool) {
	if u, err := url.Parse(v); err == nil && u.Scheme != "" {
		if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return "", false
		}
		v = u.Path
	}
	parts := strings.Split(strings.TrimSuffix(v, "/"), "/")
	if len(parts) < 2 {
		return "", false
	}
	typ, id := parts[len(parts)-2], parts[len(parts)-1]
	if !fhir.IsResourceType(typ) || !validFHIRID(id) {
		return "", false
	}
	return typ + "/" + id, true
}

// validFHIRID is the R4 id rule: 1-64 of [A-Za-z0-9-.].
func validFHIRID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Middleware authenticates like Server.Middleware. Before discovery it returns
// ErrProviderUnavailable (the caller maps it to 503).
func (o *OIDC) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			p, err := o.Authenticate(r)
			if err != nil {
				if errors.Is(err, ErrNoToken) {
					c.Response().Header().Set("WWW-Authenticate", Challenge(nil, o.cfg.BaseURL))
					return &Error{Code: ErrInvalidToken.Code, Description: "a bearer token is required", Status: http.StatusUnauthorized, Cause: err}
				}
				var e *Error
				if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
					o.log.Debug("access token refused", "error", err)
					c.Response().Header().Set("WWW-Authenticate", Challenge(err, o.cfg.BaseURL))
				}
				return err
			}
			c.SetRequest(r.WithContext(policy.WithPrincipal(r.Context(), p)))
			return next(c)
		}
	}
}

// OIDCCapabilities are the SMART capabilities Portico itself implements in this mode: how
// apps launch and authenticate is the provider's business, and it is not advertised.
var OIDCCapabilities = []string{"permission-patient", "permission-user", "permission-v1", "permission-v2"}

// Register adds the public routes of this mode: the SMART configuration beside the FHIR base,
// pointing at the provider's endpoints (503 before discovery), and under /auth a 404 JSON
// error for every path, saying that Portico's own authorization server is off.
func (o *OIDC) Register(e *echo.Echo) {
	e.GET(mustPath(o.cfg.BaseURL)+pathSMARTConf, echo.WrapHandler(http.HandlerFunc(o.smartConfiguration)))
	base, _ := url.Parse(o.cfg.BaseURL)
	authPath := strings.TrimSuffix(base.Path, "/")
	if i := strings.LastIndexByte(authPath, '/'); i >= 0 {
		authPath = authPath[:i]
	}
	off := echo.WrapHandler(http.HandlerFunc(o.authOff))
	e.Any(authPath+"/auth", off)
	e.Any(authPath+"/auth/*", off)
}

// CrossOriginPaths is the SMART configuration's path: browser apps of any origin read it
// (the server answers CORS for it).
func (o *OIDC) CrossOriginPaths() []string { return []string{mustPath(o.cfg.BaseURL) + pathSMARTConf} }

func (o *OIDC) authOff(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{
		"error":             "invalid_request",
		"error_description": "Portico's authorization server is off: tokens come from the OpenID provider " + o.cfg.Issuer + " (see /.well-known/smart-configuration beside the FHIR base)",
	})
}

// smartConfiguration answers GET {fhir}/.well-known/smart-configuration with the provider's
// endpoints.
func (o *OIDC) smartConfiguration(w http.ResponseWriter, r *http.Request) {
	st := o.state.Load()
	if st == nil {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error":             "temporarily_unavailable",
			"error_description": "the OpenID provider has not been discovered yet",
		})
		return
	}
	d := st.doc
	doc := map[string]any{
		"issuer":                 d.Issuer,
		"jwks_uri":               d.JWKSURI,
		"authorization_endpoint": d.AuthorizationEndpoint,
		"token_endpoint":         d.TokenEndpoint,
		"capabilities":           OIDCCapabilities,
	}
	opt := func(k string, v any, present bool) {
		if present {
			doc[k] = v
		}
	}
	opt("introspection_endpoint", d.IntrospectionEndpoint, d.IntrospectionEndpoint != "")
	opt("revocation_endpoint", d.RevocationEndpoint, d.RevocationEndpoint != "")
	opt("grant_types_supported", d.GrantTypes, d.GrantTypes != nil)
	opt("code_challenge_methods_supported", d.CodeChallengeMethods, d.CodeChallengeMethods != nil)
	opt("token_endpoint_auth_methods_supported", d.TokenAuthMethods, d.TokenAuthMethods != nil)
	opt("token_endpoint_auth_signing_alg_values_supported", d.TokenAuthAlgs, d.TokenAuthAlgs != nil)
	opt("response_types_supported", d.ResponseTypes, d.ResponseTypes != nil)
	opt("scopes_supported", d.Scopes, d.Scopes != nil)
	writeDoc(w, doc)
}
