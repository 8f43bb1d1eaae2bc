package httpx_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/switchboard-chat/switchboard/httpx"
)

func cidrs(t *testing.T, ss ...string) []*net.IPNet {
	t.Helper()
	var out []*net.IPNet
	for _, s := range ss {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestClientAddr(t *testing.T) {
	proxies := cidrs(t, "10.0.0.0/8", "fd00::/8")
	cases := []struct {
		name    string
		remote  string
		xff     []string
		trusted []*net.IPNet
		want    string
	}{
		{"direct client", "203.0.113.7:4711", nil, proxies, "203.0.113.7"},
		{"a client cannot name itself", "203.0.113.7:4711", []string{"198.51.100.1"}, proxies, "203.0.113.7"},
		{"no trusted proxies: the header is ignored", "10.1.2.3:80", []string{"198.51.100.1"}, nil, "10.1.2.3"},
		{"behind our proxy", "10.1.2.3:80", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"a forged hop left of the real one is ignored", "10.1.2.3:80", []string{"1.1.1.1, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"two of our proxies", "10.1.2.3:80", []string{"198.51.100.1, 10.9.9.9"}, proxies, "198.51.100.1"},
		{"several headers are one list", "10.1.2.3:80", []string{"1.1.1.1", "198.51.100.1", "10.9.9.9"}, proxies, "198.51.100.1"},
		{"only proxies: the farthest", "10.1.2.3:80", []string{"10.4.4.4, 10.5.5.5"}, proxies, "10.4.4.4"},
		{"garbage stops the walk at the last readable hop", "10.1.2.3:80", []string{"198.51.100.1, garbage, 10.9.9.9"}, proxies, "10.9.9.9"},
		{"proxy without the header", "10.1.2.3:80", nil, proxies, "10.1.2.3"},
		{"IPv6 peer", "[2001:db8::1]:443", nil, proxies, "2001:db8::1"},
		{"IPv6 proxy, IPv4 client with a port", "[fd00::1]:443", []string{"198.51.100.1:5555"}, proxies, "198.51.100.1"},
		{"IPv4-mapped IPv6 peer", "[::ffff:203.0.113.7]:1", nil, proxies, "203.0.113.7"},
		{"not an IP", "@", nil, proxies, "invalid IP"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			r.RemoteAddr = tc.remote
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := httpx.ClientAddr(r, tc.trusted).String(); got != tc.want {
				t.Fatalf("ClientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestClientNet(t *testing.T) {
	for addr, want := range map[string]string{
		"203.0.113.7":             "203.0.113.7/32",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9999": "2001:db8:1:2::/64",
	} {
		if got := httpx.ClientNet(netip.MustParseAddr(addr)).String(); got != want {
			t.Errorf("ClientNet(%s) = %s, want %s", addr, got, want)
		}
	}
}

func TestClientIPs(t *testing.T) {
	var got netip.Addr
	h := httpx.ClientIPs(cidrs(t, "127.0.0.0/8"), http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = httpx.ClientIP(r.Context())
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "127.0.0.1:1234"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got.String() != "198.51.100.1" {
		t.Fatalf("ClientIP in the handler = %s", got)
	}
	if ip := httpx.ClientIP(context.Background()); ip.IsValid() {
		t.Fatalf("ClientIP of a bare context = %s, want none", ip)
	}
}
