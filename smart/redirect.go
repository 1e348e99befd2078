package smart

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// privateScheme is a private-use URI scheme in reverse-domain form (RFC 8252 §7.1): at least
// two dot-separated labels, so never javascript:, data:, file: or another scheme a browser
// acts on.
var privateScheme = regexp.MustCompile(`^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$`)

// checkRedirectURI accepts the redirect URIs codes may be sent to: https, http on a loopback
// host (native apps, RFC 8252 §7.3), and private-use schemes in reverse-domain form (§7.1).
// Checked at registration and again before every redirect, so a URI stored before this rule
// is never used.
func checkRedirectURI(raw string) error {
	bad := func(why string) error {
		return fmt.Errorf("redirect-uri: %q %s: use https, http on a loopback host (127.0.0.1, [::1], localhost), "+
			"or a private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252)", raw, why)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bad("has spaces or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return bad("is not an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("has a fragment")
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
		if u.Hostname() == "" || u.User != nil {
			return bad("needs a host and no user info")
		}
	case scheme == "http":
		if !loopbackHost(u.Hostname()) || u.User != nil {
			return bad("is plain http to a host other than loopback")
		}
	case privateScheme.MatchString(scheme):
		if u.User != nil {
			return bad("has user info")
		}
	default:
		return bad("has a scheme that is not allowed")
	}
	return nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
