package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds every platform call that has no earlier deadline.
const DefaultTimeout = 15 * time.Second

// maxResponse caps how much of a platform response is read.
const maxResponse = 4 << 20

// NewHTTPClient returns the *http.Client adapters use by default.
func NewHTTPClient() *http.Client {
	return &http.Client{Timeout: DefaultTimeout}
}

// Call is one HTTP request to a platform API.
type Call struct {
	Platform string // "telegram", "facebook", ...
	Op       string // what the call does, for errors: "getMe", "GET /me/accounts"
	Method   string
	URL      string
	Header   http.Header
	Body     io.Reader // nil for none
}

// Do sends the call and returns the HTTP status and the body. Transport
// failures come back as a Transient *Error whose message has every URL query
// (where Graph and Telegram carry tokens) and every path stripped.
func Do(ctx context.Context, hc *http.Client, c Call) (int, []byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, c.Body)
	if err != nil {
		return 0, nil, &Error{Platform: c.Platform, Op: c.Op, Kind: Permanent, Message: "building request: " + Redact(err.Error())}
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, &Error{Platform: c.Platform, Op: c.Op, Kind: Transient, Message: transportMessage(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.StatusCode, nil, &Error{Platform: c.Platform, Op: c.Op, Kind: Transient, Status: resp.StatusCode, Message: "reading response: " + transportMessage(err)}
	}
	return resp.StatusCode, body, nil
}

// transportMessage describes a transport failure without the request URL.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return Redact(err.Error())
}

// Redact removes anything that looks like a URL with a query string or a
// Telegram bot path from s, so platform errors can be logged and shown.
func Redact(s string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		if strings.Contains(f, "://") {
			if u, err := url.Parse(strings.Trim(f, `"'`)); err == nil {
				fields[i] = u.Scheme + "://" + u.Host + "/…"
			}
		}
		if strings.Contains(f, "access_token=") || strings.Contains(f, "/bot") {
			fields[i] = "[redacted]"
		}
	}
	return strings.Join(fields, " ")
}

// StatusKind classifies an HTTP status when the body says nothing better.
func StatusKind(status int) Kind {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Auth
	case status == http.StatusTooManyRequests:
		return RateLimited
	case status >= 500 || status == http.StatusRequestTimeout:
		return Transient
	default:
		return Permanent
	}
}

// DecodeJSON decodes body into v with numbers kept as json.Number, since
// platform ids overflow float64.
func DecodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding response: %w", err)
	}
	return nil
}
