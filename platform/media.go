package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"syscall"
	"time"
)

// MediaTimeout bounds one media download, redirects and body included.
const MediaTimeout = 30 * time.Second

// maxMediaRedirects is how many redirects a media download follows: enough
// for a CDN's signed-URL hop or two, few enough that a loop ends quickly.
const maxMediaRedirects = 3

// mediaPlatform is the Platform of media download errors.
const mediaPlatform = "media"

// Download is a fetched media file.
type Download struct {
	// Name is the last segment of the URL's path ("file" when it has none).
	Name string
	// ContentType is what the server said, or what the bytes look like.
	ContentType string
	Data        []byte
}

// blockedPrefixes are ranges besides the loopback, private, link-local,
// multicast and unspecified ones (which netip names) that reach this host
// or a provider's internal network rather than the public internet.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network": Linux connects 0.x to itself
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT, where some clouds keep metadata (100.100.100.200)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking, used inside networks
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
}

// nat64 is the well-known NAT64 prefix: an address in it reaches the IPv4
// address in its last 32 bits, which must be checked in turn.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// refusedAddress is the error of a dial to an address MediaClient refuses.
type refusedAddress struct{ ip netip.Addr }

func (e *refusedAddress) Error() string {
	return fmt.Sprintf("refusing to fetch media from the non-public address %s", e.ip)
}

// errTooManyRedirects stops a redirect chain.
var errTooManyRedirects = fmt.Errorf("stopped after %d redirects", maxMediaRedirects)

// errRedirectScheme stops a redirect away from http(s).
var errRedirectScheme = errors.New("redirected to a URL that is not http or https")

// blocked reports whether ip is one a media download must not reach.
func blocked(ip netip.Addr) bool {
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		return blocked(netip.AddrFrom4([4]byte(b[12:])))
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// refusePrivate is a net.Dialer Control: it runs on the address about to be
// connected, after name resolution, so a name that resolves to a public
// address when checked and a private one when used (DNS rebinding) is
// still caught.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// A dial always carries a literal address here; anything else is
		// not something to connect to blindly.
		return fmt.Errorf("refusing to dial %q: not an IP address", host)
	}
	if blocked(ip.WithZone("")) {
		return &refusedAddress{ip: ip.WithZone("")}
	}
	return nil
}

// MediaClient returns the http.Client that fetches agents' media URLs for
// platforms that take uploads only. Media URLs come from users, so unless
// allowPrivate (tests and local development serve media from 127.0.0.1) it
// refuses to connect to loopback, private, link-local, multicast and other
// non-public addresses, including after a redirect. It follows at most 3
// redirects.
func MediaClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = refusePrivate
	}
	transport := &http.Transport{
		// No proxy: through one, the dialer would check the proxy's
		// address, and the proxy would reach whatever the URL names.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
	}
	return &http.Client{
		Timeout:   MediaTimeout,
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxMediaRedirects {
				return errTooManyRedirects
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return errRedirectScheme
			}
			return nil
		},
	}
}

// FetchMedia downloads rawURL (http or https only) with hc, at most max
// bytes of it. A nil hc means MediaClient(false). Errors are *Error of
// Platform "media" whose text never holds the URL's path or query (signed
// URLs carry credentials there): a refused address, a 4xx, a body over max
// or a URL that is not http(s) are Permanent; timeouts, transport failures,
// 5xx, 408 and 429 are Transient.
func FetchMedia(ctx context.Context, hc *http.Client, rawURL string, max int64) (*Download, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		op := "GET"
		if err == nil && u.Host != "" {
			op += " " + u.Host
		}
		return nil, &Error{Platform: mediaPlatform, Op: op, Kind: Permanent, Message: "media URL must be an absolute http or https URL"}
	}
	op := "GET " + u.Host
	fail := func(kind Kind, status int, format string, args ...any) error {
		return &Error{Platform: mediaPlatform, Op: op, Kind: kind, Status: status, Message: fmt.Sprintf(format, args...)}
	}
	if hc == nil {
		hc = MediaClient(false)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fail(Permanent, 0, "building request: %s", Redact(err.Error()))
	}
	resp, err := hc.Do(req)
	if err != nil {
		var refused *refusedAddress
		if errors.As(err, &refused) {
			return nil, fail(Permanent, 0, "%s", refused.Error())
		}
		for _, stop := range []error{errTooManyRedirects, errRedirectScheme} {
			if errors.Is(err, stop) {
				return nil, fail(Permanent, 0, "%s", stop.Error())
			}
		}
		return nil, fail(Transient, 0, "%s", transportMessage(err))
	}
	defer resp.Body.Close()

	switch status := resp.StatusCode; {
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return nil, fail(Transient, status, "media server answered HTTP %d %s", status, http.StatusText(status))
	case status < 200 || status > 299:
		// Includes a redirect without a Location: nothing more to follow.
		return nil, fail(Permanent, status, "media server answered HTTP %d %s", status, http.StatusText(status))
	}
	if resp.ContentLength > max {
		return nil, fail(Permanent, resp.StatusCode, "media is %d bytes, more than the %d allowed", resp.ContentLength, max)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fail(Transient, resp.StatusCode, "reading media: %s", transportMessage(err))
	}
	if int64(len(data)) > max {
		return nil, fail(Permanent, resp.StatusCode, "media is more than the %d bytes allowed", max)
	}
	ct := strings.TrimSpace(resp.Header.Get("Content-Type"))
	if ct == "" {
		ct = http.DetectContentType(data)
	}
	return &Download{Name: mediaName(u), ContentType: ct, Data: data}, nil
}

// mediaName is the last segment of u's path, the name the customer sees.
func mediaName(u *url.URL) string {
	name := path.Base(u.Path)
	if name == "." || name == "/" || name == "" {
		return "file"
	}
	return name
}
