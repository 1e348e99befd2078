package clientaddr

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestResolve(t *testing.T) {
	trusted, err := ParseTrusted("10.0.0.0/8, 192.168.1.7 fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	r := New(trusted)
	cases := []struct {
		name, peer string
		header     map[string][]string
		want       string
	}{
		{"untrusted peer: headers ignored", "203.0.113.9:5000", map[string][]string{"X-Forwarded-For": {"1.2.3.4"}}, "203.0.113.9"},
		{"trusted peer without headers", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"one proxy", "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"198.51.100.4"}}, "198.51.100.4"},
		{"client-written hops left of the proxy's are not believed", "10.1.2.3:5000",
			map[string][]string{"X-Forwarded-For": {"6.6.6.6, 198.51.100.4"}}, "198.51.100.4"},
		{"two trusted proxies", "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"6.6.6.6, 198.51.100.4, 192.168.1.7"}}, "198.51.100.4"},
		{"several header lines", "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"6.6.6.6", "198.51.100.4, 10.9.9.9"}}, "198.51.100.4"},
		{"all trusted: the leftmost", "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"10.0.0.5, 10.0.0.6"}}, "10.0.0.5"},
		{"garbage where the proxy wrote: the nearest proxy", "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"1.1.1.1, unknown"}}, "10.1.2.3"},
		{"Forwarded", "10.1.2.3:5000", map[string][]string{"Forwarded": {`for=6.6.6.6, for="[2001:db8::17]:4711";proto=https`}}, "2001:db8::17"},
		{"Forwarded with a trusted hop", "10.1.2.3:5000", map[string][]string{"Forwarded": {`for=198.51.100.4;by=x, For=10.0.0.9`}}, "198.51.100.4"},
		{"X-Forwarded-For wins over Forwarded", "10.1.2.3:5000",
			map[string][]string{"X-Forwarded-For": {"198.51.100.4"}, "Forwarded": {"for=6.6.6.6"}}, "198.51.100.4"},
		{"IPv6 peer", "[fd00::1]:443", map[string][]string{"X-Forwarded-For": {"2001:db8::5"}}, "2001:db8::5"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:443", map[string][]string{"X-Forwarded-For": {"198.51.100.4"}}, "198.51.100.4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = c.peer
			for k, vs := range c.header {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			var got string
			r.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) { got = From(req) })).ServeHTTP(httptest.NewRecorder(), req)
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	if got := From(req); got != "192.0.2.1" {
		t.Errorf("From without the middleware: %q", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "nonsense", "10.0.0.1/x"} {
		if _, err := ParseTrusted(bad); err == nil {
			t.Errorf("ParseTrusted(%q) accepted", bad)
		}
	}
	if b := Bucket("2001:db8:1:2:3:4:5:6"); b != "2001:db8:1:2::/64" {
		t.Errorf("Bucket of IPv6: %q", b)
	}
	if b := Bucket("198.51.100.4"); b != "198.51.100.4" {
		t.Errorf("Bucket of IPv4: %q", b)
	}
}
