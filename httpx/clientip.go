package httpx

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr returns the address of the client that sent r: the peer
// (RemoteAddr), unless the peer is one of the trusted proxies, in which case
// X-Forwarded-For is read from the right, each trusted hop skipped, and the
// first address no trusted proxy vouches for is the client. Reading from the
// left would let any client name itself with a forged header: only the hops
// our own proxies appended can be believed. The zero Addr means the peer is
// not an IP address (a unix socket, a test's fake RemoteAddr).
func ClientAddr(r *http.Request, trusted []*net.IPNet) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			hop := parseAddr(strings.TrimSpace(list[j]))
			if !hop.IsValid() {
				// Garbage from beyond our proxies: the last hop we could read
				// is as far as the chain can be followed.
				return client
			}
			client = hop
			if !isTrusted(hop, trusted) {
				return client
			}
		}
	}
	return client
}

// parseAddr reads "ip", "ip:port" or "[ipv6]:port", unmapping IPv4-in-IPv6 so
// one client has one address whichever way it arrived.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

func isTrusted(a netip.Addr, trusted []*net.IPNet) bool {
	ip := net.IP(a.AsSlice())
	for _, n := range trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientNet is what limits per client are keyed by: the IPv4 address, or the
// /64 of an IPv6 one, since a single IPv6 subscriber is routinely handed a
// whole /64 and could otherwise take a fresh address for every request.
func ClientNet(a netip.Addr) netip.Prefix {
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

type clientIPKey struct{}

// WithClientIP returns ctx carrying the client's address, for code far from
// the request (the sign-in throttle) that limits per client.
func WithClientIP(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, clientIPKey{}, a)
}

// ClientIP returns the client address ctx carries, or the zero Addr.
func ClientIP(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(clientIPKey{}).(netip.Addr)
	return a
}

// ClientIPs stores each request's client address (see ClientAddr) in its
// context.
func ClientIPs(trusted []*net.IPNet, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithClientIP(r.Context(), ClientAddr(r, trusted))))
	})
}
