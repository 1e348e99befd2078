package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// CORS: which pages of other origins a browser lets call Portico and read the answers. It is
// decided here, in one middleware, for two kinds of routes (docs/operations.md, "Browser apps
// on another origin (CORS)"):
//
//   - the FHIR API, everything under the base URL's path (/fhir/metadata included): the
//     origins of --cors-origins, none by default;
//   - the endpoints a SMART app calls before it has a token (discovery, JWKS, token,
//     revocation, introspection, EHR launch: smart.Server.CrossOriginPaths): every origin, as
//     before, since a browser app must reach them from wherever it is served. They read no
//     cookies, so a page gains nothing by calling them that it could not gain from a script
//     outside a browser.
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) that one of them allows
// is answered here, before authentication. No answer allows credentials: Portico reads no
// cookies on these routes, and a bearer token is a request header, not a CORS credential.

// The headers of an allowed request and its answer: what the SMART JavaScript client and
// FHIR's conditional and versioned interactions use.
const (
	corsAllowMethods  = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, Prefer"
	corsExposeHeaders = "Location, Content-Location, ETag, Last-Modified, WWW-Authenticate, Retry-After"
	corsMaxAge        = "86400" // browsers cap it (Chromium at 2 hours); a day elsewhere
)

// corsOrigins is a parsed --cors-origins: nothing, any origin, or exact origins.
type corsOrigins struct {
	any   bool
	exact []string // as browsers write them in Origin: lower case, no default port
}

func (o corsOrigins) none() bool { return !o.any && len(o.exact) == 0 }

// allowed is the Access-Control-Allow-Origin for a request from origin, "" when none.
func (o corsOrigins) allowed(origin string) string {
	switch {
	case origin == "":
		return ""
	case o.any:
		return "*"
	case slices.Contains(o.exact, origin):
		return origin
	}
	return ""
}

// parseCORSOrigins parses --cors-origins: "" (none), "*" (any origin), or comma-separated
// exact origins. Each origin must be written as a browser sends it, so that a typo cannot
// quietly allow nothing (or something else).
func parseCORSOrigins(s string) (corsOrigins, error) {
	var o corsOrigins
	var errs []error
	values := 0
	for v := range strings.SplitSeq(s, ",") {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
			continue
		case v == "*":
			o.any = true
		default:
			if err := checkOrigin(v); err != nil {
				errs = append(errs, fmt.Errorf("cors-origins: %q: %w", v, err))
			} else if !slices.Contains(o.exact, v) {
				o.exact = append(o.exact, v)
			}
		}
		values++
	}
	if o.any && values > 1 {
		errs = append(errs, errors.New(`cors-origins: "*" (any origin) must be the only value`))
	}
	return o, errors.Join(errs...)
}

// checkOrigin reports why v is not an origin as a browser writes it in the Origin header:
// http or https, a host, a port only when not the scheme's default, nothing else, lower case.
func checkOrigin(v string) error {
	const form = "an origin is scheme://host[:port], with no path, not even a trailing slash"
	if strings.Contains(v, "*") {
		return errors.New("wildcards are not supported: list each origin")
	}
	u, err := url.Parse(v)
	if err != nil || u.Opaque != "" || u.Hostname() == "" {
		return errors.New(form)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	for _, r := range u.Host {
		if r > 0x7e {
			return errors.New("write the host in its ASCII (xn--) form, as browsers send it")
		}
	}
	hostPort := strings.ToLower(u.Host)
	switch port := u.Port(); {
	case port == "":
		hostPort = strings.TrimSuffix(hostPort, ":")
	case u.Scheme == "http" && port == "80", u.Scheme == "https" && port == "443":
		hostPort = strings.TrimSuffix(hostPort, ":"+port) // browsers omit the default port
	default:
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: want 1 to 65535", port)
		}
	}
	if want := u.Scheme + "://" + hostPort; want != v {
		return fmt.Errorf("%s, as browsers send it (want %q)", form, want)
	}
	return nil
}

// corsMiddleware answers preflights and puts the CORS headers on the answers of the FHIR API
// under fhirPath (for api's origins) and of the paths in anyOrigin (for every origin). Other
// routes get none. The headers are set just before the status is written, so that errors,
// whoever writes them, carry them too.
func corsMiddleware(fhirPath string, api corsOrigins, anyOrigin []string) echo.MiddlewareFunc {
	fhirPath = strings.TrimSuffix(fhirPath, "/")
	public := make(map[string]bool, len(anyOrigin))
	for _, p := range anyOrigin {
		public[p] = true
	}
	everyone := corsOrigins{any: true}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			var origins corsOrigins
			switch p := req.URL.Path; {
			case public[p]:
				origins = everyone
			case p == fhirPath || strings.HasPrefix(p, fhirPath+"/"):
				origins = api
			}
			if origins.none() {
				return next(c)
			}
			res := c.Response()
			origin := req.Header.Get("Origin")
			allow := origins.allowed(origin)
			// The answer depends on Origin: no cache may give one origin's answer to another.
			res.Before(func() { addVary(res.Header(), "Origin") })
			if allow == "" {
				return next(c) // not a cross-origin request this server allows: as usual
			}
			if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
				h := res.Header()
				h.Set("Access-Control-Allow-Origin", allow)
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAge)
				return c.NoContent(http.StatusNoContent)
			}
			res.Before(func() {
				res.Header().Set("Access-Control-Allow-Origin", allow)
				res.Header().Set("Access-Control-Expose-Headers", corsExposeHeaders)
			})
			return next(c)
		}
	}
}

// addVary adds name to the Vary header unless it is listed already.
func addVary(h http.Header, name string) {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return
			}
		}
	}
	h.Add("Vary", name)
}
