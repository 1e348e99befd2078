// Package clientaddr resolves the address a request came from: the TCP peer, or, when the peer
// is a trusted reverse proxy, the rightmost address in X-Forwarded-For (or Forwarded) that is
// not one of the trusted proxies. The server resolves it once per request (Middleware); From is
// how the rest of Portico reads it (sign-in throttling, rate limits, the request log).
package clientaddr

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver resolves client addresses behind a set of trusted proxies.
type Resolver struct {
	trusted []netip.Prefix
}

// ParseTrusted parses a list of CIDRs or single addresses separated by commas or spaces
// ("10.0.0.0/8, 192.168.1.7, fd00::/8"); "" is none.
func ParseTrusted(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted-proxies: %q is not a CIDR (10.0.0.0/8) or an address", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted-proxies: %q is not a CIDR (10.0.0.0/8) or an address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// New returns a resolver that believes forwarding headers only from peers in trusted.
func New(trusted []netip.Prefix) *Resolver { return &Resolver{trusted: trusted} }

func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client address of req. Without a trusted peer the forwarding headers are
// ignored: any client can write them. Behind trusted proxies each proxy appends the address it
// received the request from, so the rightmost address that is not a trusted proxy is the
// client's; what lies left of it was written by the client and is not believed. X-Forwarded-For
// is read when the request has one (what nearly every proxy writes), else Forwarded (RFC 7239).
func (r *Resolver) Resolve(req *http.Request) netip.Addr {
	peer, ok := parseHop(req.RemoteAddr)
	if !ok || !r.isTrusted(peer) {
		return peer
	}
	hops := forwardedFor(req.Header)
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return last // "unknown" or garbage where a proxy should have written an address
		}
		if !r.isTrusted(a) {
			return a
		}
		last = a
	}
	return last
}

// forwardedFor lists the hops of X-Forwarded-For, or of Forwarded's for= parameters, left to
// right, across all header lines.
func forwardedFor(h http.Header) []string {
	var hops []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, line := range xff {
			hops = append(hops, strings.Split(line, ",")...)
		}
		return hops
	}
	for _, line := range h.Values("Forwarded") {
		for _, elem := range strings.Split(line, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") {
					hops = append(hops, v)
				}
			}
		}
	}
	return hops
}

// parseHop reads an address as forwarding headers and RemoteAddr write it: 192.0.2.1,
// 192.0.2.1:443, [2001:db8::1]:443, 2001:db8::1, "[2001:db8::1]" (quoted in Forwarded).
func parseHop(s string) (netip.Addr, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

type ctxKey struct{}

// Middleware resolves each request's client address once and keeps it in its context.
func (r *Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		next.ServeHTTP(w, req.WithContext(r.NewContext(req.Context(), req)))
	})
}

// NewContext returns ctx carrying the client address of req, for a middleware that sets the
// request's context itself (the server's request log does, once for everything it adds).
func (r *Resolver) NewContext(ctx context.Context, req *http.Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, r.Resolve(req))
}

// From is the client address of req: as Middleware resolved it, else the TCP peer. "" when
// neither can be read.
func From(req *http.Request) string {
	a, ok := req.Context().Value(ctxKey{}).(netip.Addr)
	if !ok {
		a, _ = parseHop(req.RemoteAddr)
	}
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// FromContext is the client address Middleware (or NewContext) put in ctx; "" when none.
func FromContext(ctx context.Context) string {
	a, ok := ctx.Value(ctxKey{}).(netip.Addr)
	if !ok || !a.IsValid() {
		return ""
	}
	return a.String()
}

// Bucket is the key under which limits count a client address: the address itself for IPv4,
// its /64 for IPv6, since one customer of a provider usually holds a whole /64.
func Bucket(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Is4() {
		return addr
	}
	p, _ := a.Prefix(64)
	return p.String()
}
