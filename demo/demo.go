// Package demo serves the /demo patient-portal app: a small SMART on FHIR app, built with the
// SMART JavaScript client (npm fhirclient, vendored in assets/vendor), that Portico serves
// itself so that a newcomer can open a browser, sign in as a patient (or as clinic staff, who
// pick a patient), see the patient's data and send a message. It also registers the public
// client the app uses (ClientID), with the exact redirect URI the app is served at.
//
// The app is static files embedded in the binary; the only dynamic file is config.json, which
// tells the app its client_id, the FHIR base URL and its redirect URI. docs/smart.md ("The demo
// app and browser tests") is the user's guide; e2e/browser_test.go drives it in Chromium.
package demo

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/smart"
	"github.com/portico-health/portico/store"
)

//go:generate bash refresh-fhirclient.sh

//go:embed assets
var assets embed.FS

// ClientID is the client_id of the demo app, a public client (PKCE, no secret).
const ClientID = "portico-demo"

// Scope is the most the demo app may be granted: patient/ scopes for patients (and EHR
// launches), user/ scopes for clinic staff. One scope per resource type, so that the consent
// page offers each type on its own line and a user can keep, say, their messages private.
const Scope = "openid fhirUser launch launch/patient offline_access online_access " +
	"patient/Patient.rs patient/Observation.rs patient/Communication.crs patient/Questionnaire.rs " +
	"user/Patient.rs user/Observation.rs user/Communication.crs"

// Config configures the demo.
type Config struct {
	Store   store.Store  // where the demo client is registered
	BaseURL string       // the public FHIR base URL, e.g. "https://portal.example/fhir"
	Logger  *slog.Logger // nil: discard
}

// Demo is the /demo app of one Portico.
type Demo struct {
	cfg         Config
	log         *slog.Logger
	path        string // URL path of the app without trailing slash, e.g. "/demo"
	redirectURI string // {public origin}{path}/
	config      []byte // config.json
	files       http.Handler
}

// New computes where the app lives: beside the FHIR base, as the /auth routes are
// (https://portal.example/fhir → https://portal.example/demo/).
func New(cfg Config) (*Demo, error) {
	if cfg.Store == nil {
		return nil, errors.New("demo: Config.Store is required")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || strings.HasSuffix(cfg.BaseURL, "/") {
		return nil, fmt.Errorf("demo: BaseURL %q is not an absolute http(s) URL without trailing slash", cfg.BaseURL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := base.Path
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	d := &Demo{cfg: cfg, log: cfg.Logger, path: p + "/demo"}
	d.redirectURI = base.Scheme + "://" + base.Host + d.path + "/"
	d.config, err = json.Marshal(map[string]string{
		"clientId":    ClientID,
		"fhirBaseUrl": cfg.BaseURL,
		"redirectUri": d.redirectURI,
	})
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	d.files = http.StripPrefix(d.path, http.FileServerFS(sub))
	return d, nil
}

// Path is the URL path the app is served under, without trailing slash ("/demo").
func (d *Demo) Path() string { return d.path }

// RedirectURI is the one redirect URI registered for the demo client: the app's index page.
func (d *Demo) RedirectURI() string { return d.redirectURI }

// EnsureClient registers the demo client, or brings an existing registration up to date
// (redirect URI and scope follow --base-url), so that starting with --demo is idempotent. A
// client an administrator disabled stays disabled.
func (d *Demo) EnsureClient(ctx context.Context) error {
	want := smart.Client{ID: ClientID, Name: "Portico demo", Type: smart.ClientPublic,
		RedirectURIs: []string{d.redirectURI}, Scope: Scope, Created: time.Now().UTC().Truncate(time.Second)}
	if err := want.Validate(); err != nil {
		return fmt.Errorf("demo: client: %w", err)
	}
	for range 5 { // retried on a concurrent registration by another Portico on the same store
		rec, err := d.cfg.Store.Read(ctx, smart.TypeClient, ClientID)
		w := store.Write{Op: store.OpCreate, Type: smart.TypeClient, ID: ClientID, Version: 1, LastUpdated: time.Now().UTC()}
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("demo: read client: %w", err)
		default:
			var have smart.Client
			if err := json.Unmarshal(rec.Body, &have); err != nil {
				return fmt.Errorf("demo: client %s: %w", ClientID, err)
			}
			if have.Type == want.Type && slices.Equal(have.RedirectURIs, want.RedirectURIs) && have.Scope == want.Scope &&
				len(have.JWKS) == 0 && have.JWKSURL == "" && have.SecretHash == "" {
				if have.Disabled {
					d.log.Warn("the demo app's client is disabled; /demo cannot sign in", "client_id", ClientID)
				}
				return nil
			}
			// Anything else under this id (another type, a secret, keys) is replaced: the id is
			// reserved for the demo, and a public client must have no credentials.
			want.Created, want.Disabled = have.Created, have.Disabled
			w.Op, w.Version = store.OpUpdate, rec.Version+1
		}
		body, err := json.Marshal(want)
		if err != nil {
			return err
		}
		w.Body = body
		err = d.cfg.Store.Write(ctx, w)
		if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrExists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("demo: register client: %w", err)
		}
		d.log.Info("demo app registered", "client_id", ClientID, "redirect_uri", d.redirectURI)
		return nil
	}
	return fmt.Errorf("demo: register client: too many concurrent updates: %w", store.ErrVersionConflict)
}

// Register adds the app's routes: {path} redirects to {path}/, {path}/config.json, and the
// embedded files below {path}/.
func (d *Demo) Register(e *echo.Echo) {
	h := echo.WrapHandler(d)
	e.GET(d.path, h)
	e.HEAD(d.path, h)
	e.GET(d.path+"/*", h)
	e.HEAD(d.path+"/*", h)
}

// ServeHTTP serves the app with headers that keep the authorization code in its URL from
// leaking (no Referer), forbid framing, and allow scripts and connections to this origin only.
func (d *Demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache") // revalidate: a new binary may bring new files
	switch r.URL.Path {
	case d.path:
		http.Redirect(w, r, d.path+"/", http.StatusMovedPermanently)
		return
	case d.path + "/config.json":
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(d.config)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/") && r.URL.Path != d.path+"/" {
		http.NotFound(w, r) // no directory listings
		return
	}
	d.files.ServeHTTP(w, r)
}
