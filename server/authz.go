package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/smart"
)

// Values of --auth.
const (
	AuthSMART = "smart" // tokens required on the FHIR API (the default)
	AuthNone  = "none"  // an open server, for local development only
)

// requireUnrestricted guards an operation whose output aggregates many patients' data (the
// triage statistics): the caller's view must allow perm on typ without any compartment or
// granular restriction (a system/ scope, or a user/ scope of staff whose reach is all
// patients). A patient's token gets 403.
func requireUnrestricted(src *guard.Source, typ string, perm policy.Perm, op string, h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		v, err := src.View(c.Request().Context())
		if err != nil {
			return err
		}
		if err := v.Can(typ, perm); err != nil {
			return err
		}
		if !v.Unrestricted(typ, perm) {
			e := *smart.ErrInsufficientScope
			e.Description = op + " reports on every patient: it needs a token without patient restriction"
			e.Status = http.StatusForbidden
			return &e
		}
		return h(c)
	}
}
