package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
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
	host, err := canonicalHost(strings.ToLower(u.Hostname()))
	if err != nil {
		return err
	}
	hostPort := host
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: want 1 to 65535", port)
		}
		// Browsers omit the default port, and write others without leading zeros.
		if !(u.Scheme == "http" && n == 80) && !(u.Scheme == "https" && n == 443) {
			hostPort += ":" + strconv.Itoa(n)
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

// canonicalHost is host as a browser serializes it in an origin (the WHATWG URL standard): an
// IPv6 address compressed, in hexadecimal only; a host whose last label is a number is an IPv4
// address in any of its forms (0x7f.1, 2130706433, 0177.0.0.1), written in dotted decimal.
func canonicalHost(host string) (string, error) {
	if strings.HasPrefix(host, "[") || strings.Contains(host, ":") {
		a, err := netip.ParseAddr(strings.Trim(host, "[]"))
		if err != nil || !a.Is6() {
			return "", fmt.Errorf("host %q: not an IPv6 address", host)
		}
		return "[" + ipv6String(a) + "]", nil
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if _, ok := ipv4Part(labels[len(labels)-1]); !ok {
		return host, nil // a domain name
	}
	if len(labels) > 4 {
		return "", fmt.Errorf("host %q: not an IPv4 address", host)
	}
	var n uint64
	for i, l := range labels {
		v, ok := ipv4Part(l)
		if !ok {
			return "", fmt.Errorf("host %q: not an IPv4 address", host)
		}
		if i < len(labels)-1 {
			if v > 255 {
				return "", fmt.Errorf("host %q: not an IPv4 address", host)
			}
			n |= v << (8 * (3 - i))
			continue
		}
		if v >= 1<<(8*(4-i)) {
			return "", fmt.Errorf("host %q: not an IPv4 address", host)
		}
		n |= v
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}).String(), nil
}

// ipv4Part parses one part of an IPv4 host as browsers do: 0x hexadecimal, a leading 0 octal,
// else decimal.
func ipv4Part(s string) (uint64, bool) {
	base := 10
	switch {
	case s == "":
		return 0, false
	case strings.HasPrefix(s, "0x"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true
		}
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	v, err := strconv.ParseUint(s, base, 32)
	return v, err == nil
}

// ipv6String writes an IPv6 address as the WHATWG URL standard does: eight groups in
// lower-case hexadecimal, the first longest run of two or more zero groups as "::", and never
// a dotted IPv4 tail (::ffff:7f00:1, not ::ffff:127.0.0.1).
func ipv6String(a netip.Addr) string {
	b := a.As16()
	var g [8]uint16
	for i := range g {
		g[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	start, length := -1, 1
	for i := 0; i < 8; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > length {
			start, length = i, j-i
		}
		i = j
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if i == start {
			sb.WriteString("::")
			i += length - 1
			continue
		}
		if i > 0 && i != start+length {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(g[i]), 16))
	}
	return sb.String()
}
