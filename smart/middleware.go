package smart

import (
	"errors"
	"github.com/portico-health/portico/policy"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Middleware authenticates every request it wraps and puts the Principal in the request's
// context (PrincipalFrom). Without a valid token it sets WWW-Authenticate and returns an error
// that errors.As to *Error with Status 401 (ErrInvalidToken; a missing token is ErrInvalidToken
// too, wrapping ErrNoToken), for the API's error handler to write. Wrap only the protected
// routes: the well-known documents, /fhir/metadata and the /auth routes stay public.
func (s *Server) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			p, err := s.Authenticate(r)
			if err != nil {
				if errors.Is(err, ErrNoToken) {
					c.Response().Header().Set("WWW-Authenticate", Challenge(nil, s.audience))
					return &Error{Code: ErrInvalidToken.Code, Description: "a bearer token is required", Status: http.StatusUnauthorized, Cause: err}
				}
				var e *Error
				if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
					c.Response().Header().Set("WWW-Authenticate", Challenge(err, s.audience))
				}
				return err
			}
			c.SetRequest(r.WithContext(policy.WithPrincipal(r.Context(), p)))
			return next(c)
		}
	}
}
