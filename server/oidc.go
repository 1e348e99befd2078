package server

import (
	"errors"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/api"
	"github.com/portico-health/portico/conformance"
	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/smart"
)

// errProviderUnavailable answers FHIR requests (and /fhir/metadata, whose oauth-uris come
// from the provider) while the OpenID provider has not been discovered: 503, try again.
func errProviderUnavailable() error {
	return &api.Error{
		Status: http.StatusServiceUnavailable,
		Issues: []fhir.Issue{{Severity: "error", Code: "transient",
			Diagnostics: "the OpenID provider that issues access tokens has not been reached yet; try again later"}},
		Header: http.Header{"Retry-After": {"5"}},
		Err:    smart.ErrProviderUnavailable,
	}
}

// wireOIDC registers the routes of the external-provider mode: the SMART configuration and
// /auth answer (smart.OIDC.Register), /fhir/metadata carries the provider's endpoints in its
// oauth-uris once discovered (503 before), and it returns the middleware that protects the
// FHIR API (503 before discovery, then 401 without a valid token).
func wireOIDC(e *echo.Echo, o *smart.OIDC, desc conformance.Description) echo.MiddlewareFunc {
	o.Register(e)
	var (
		once     sync.Once
		metadata echo.HandlerFunc
	)
	e.GET("/fhir/metadata", func(c echo.Context) error {
		authorize, token, ok := o.Endpoints()
		if !ok {
			return errProviderUnavailable()
		}
		once.Do(func() {
			d := desc
			d.Security = &conformance.Security{AuthorizeURL: authorize, TokenURL: token}
			metadata = conformance.Handler(d)
		})
		return metadata(c)
	})
	authn := o.Middleware()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := authn(next)
		return func(c echo.Context) error {
			err := h(c)
			if errors.Is(err, smart.ErrProviderUnavailable) {
				return errProviderUnavailable()
			}
			return err
		}
	}
}

// stopOIDC stops the provider's discovery retries, if any.
func (s *Server) stopOIDC() {
	if o := s.oidc.Load(); o != nil {
		o.Close()
	}
}
