// Package graphapi calls Meta's Graph API, which both the Facebook Messenger
// and the WhatsApp Cloud adapters speak, and classifies its errors into
// platform.Error kinds.
package graphapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/platform"
)

// Client calls one Graph API host at one version. It is safe for concurrent use.
type Client struct {
	baseURL string
	version string
	hc      *http.Client
}

// New returns a client for baseURL (e.g. "https://graph.facebook.com") at
// version (e.g. "v21.0"). A nil hc means platform.NewHTTPClient().
func New(baseURL, version string, hc *http.Client) *Client {
	if hc == nil {
		hc = platform.NewHTTPClient()
	}
	return &Client{
		baseURL: strings.TrimRight(baseURL, "/"),
		version: strings.Trim(version, "/"),
		hc:      hc,
	}
}

// Request is one Graph call. Get, Post, Delete and GetUnversioned cover the
// common shapes; Do with a Request is for the rest (JSON bodies, such as the
// Messenger and WhatsApp send APIs).
type Request struct {
	Method string
	// Path is relative to the version, e.g. "/me/accounts"; the leading
	// slash is optional.
	Path string
	// Token is sent as "Authorization: Bearer", so it never appears in a
	// URL that a proxy, a transport error or a log might repeat. Empty
	// sends no Authorization header.
	Token string
	Query url.Values
	// Form is sent as an application/x-www-form-urlencoded body. At most
	// one of Form and JSON may be set.
	Form url.Values
	// JSON, when non-nil, is marshalled as the request body.
	JSON any
	// Unversioned leaves the version out of the URL, for endpoints such as
	// /oauth/access_token that Meta documents without one.
	Unversioned bool
}

// Get calls GET {path} with query and decodes the answer into out (which may be nil).
func (c *Client) Get(ctx context.Context, platformName, path, token string, query url.Values, out any) error {
	return c.Do(ctx, platformName, Request{Method: http.MethodGet, Path: path, Token: token, Query: query}, out)
}

// GetUnversioned is Get without the version in the URL.
func (c *Client) GetUnversioned(ctx context.Context, platformName, path, token string, query url.Values, out any) error {
	return c.Do(ctx, platformName, Request{Method: http.MethodGet, Path: path, Token: token, Query: query, Unversioned: true}, out)
}

// Post calls POST {path} with form as the body.
func (c *Client) Post(ctx context.Context, platformName, path, token string, form url.Values, out any) error {
	return c.Do(ctx, platformName, Request{Method: http.MethodPost, Path: path, Token: token, Form: form}, out)
}

// Delete calls DELETE {path} with query.
func (c *Client) Delete(ctx context.Context, platformName, path, token string, query url.Values, out any) error {
	return c.Do(ctx, platformName, Request{Method: http.MethodDelete, Path: path, Token: token, Query: query}, out)
}

// Do sends r and decodes a 2xx JSON answer into out (numbers as
// json.Number), unless out is nil. Every failure is a *platform.Error whose
// Op is "<METHOD> <path>" and whose text has the token, and any secret sent
// in the query or form, removed.
func (c *Client) Do(ctx context.Context, platformName string, r Request, out any) error {
	path := "/" + strings.TrimLeft(r.Path, "/")
	op := r.Method + " " + path
	secrets := secretsOf(r)

	u := c.baseURL
	if !r.Unversioned && c.version != "" {
		u += "/" + c.version
	}
	u += path
	if len(r.Query) > 0 {
		u += "?" + r.Query.Encode()
	}

	header := http.Header{"Accept": {"application/json"}}
	if r.Token != "" {
		header.Set("Authorization", "Bearer "+r.Token)
	}
	var body io.Reader
	switch {
	case r.JSON != nil:
		b, err := json.Marshal(r.JSON)
		if err != nil {
			return &platform.Error{Platform: platformName, Op: op, Kind: platform.Permanent, Message: "encoding request: " + scrub(err.Error(), secrets)}
		}
		body = bytes.NewReader(b)
		header.Set("Content-Type", "application/json")
	case r.Form != nil:
		body = strings.NewReader(r.Form.Encode())
		header.Set("Content-Type", "application/x-www-form-urlencoded")
	}

	// platform.Do returns no headers, and a rate-limited answer may carry
	// Retry-After, so a copy of the client records the last response's.
	var respHeader http.Header
	hc := *c.hc
	hc.Transport = headerRecorder{base: c.hc.Transport, into: &respHeader}

	status, respBody, err := platform.Do(ctx, &hc, platform.Call{
		Platform: platformName, Op: op, Method: r.Method, URL: u, Header: header, Body: body,
	})
	if err != nil {
		return scrubError(err, secrets)
	}
	if status < 200 || status > 299 {
		e := classify(status, respBody)
		e.Platform, e.Op = platformName, op
		e.RetryAfter = retryAfter(respHeader.Get("Retry-After"))
		e.Message = scrub(e.Message, secrets)
		return e
	}
	if out == nil {
		return nil
	}
	if err := platform.DecodeJSON(respBody, out); err != nil {
		// A 2xx that is not the JSON we expect is most likely a proxy or a
		// truncated answer, so it is worth retrying rather than giving up.
		return &platform.Error{Platform: platformName, Op: op, Kind: platform.Transient, Status: status, Message: scrub(err.Error(), secrets)}
	}
	return nil
}

// sensitiveParams are the query and form parameters that carry credentials
// in Graph calls.
var sensitiveParams = []string{
	"access_token", "input_token", "fb_exchange_token", "client_secret",
	"appsecret_proof", "code", "refresh_token",
}

func secretsOf(r Request) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		// An app token is "<app id>|<app secret>"; the secret alone must
		// not leak either.
		if _, after, ok := strings.Cut(s, "|"); ok && after != "" {
			out = append(out, after)
		}
	}
	add(r.Token)
	for _, vs := range []url.Values{r.Query, r.Form} {
		for _, k := range sensitiveParams {
			for _, v := range vs[k] {
				add(v)
			}
		}
	}
	return out
}

// scrub removes secrets from s. Graph echoes a malformed token back in some
// messages ("Malformed access token …"), so its own text is not trusted.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return platform.Redact(s)
}

func scrubError(err error, secrets []string) error {
	if pe, ok := err.(*platform.Error); ok {
		cp := *pe
		cp.Message = scrub(cp.Message, secrets)
		return &cp
	}
	return err
}

// envelope is Graph's error answer.
type envelope struct {
	Error *struct {
		Message        string `json:"message"`
		Type           string `json:"type"`
		Code           int    `json:"code"`
		ErrorSubcode   int    `json:"error_subcode"`
		FBTraceID      string `json:"fbtrace_id"`
		ErrorUserTitle string `json:"error_user_title"`
		ErrorUserMsg   string `json:"error_user_msg"`
	} `json:"error"`
}

// classify turns a non-2xx answer into an error without Platform and Op.
func classify(status int, body []byte) *platform.Error {
	var env envelope
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		// Without an envelope the answer came from something in front of
		// Graph (a proxy, a load balancer), and its body may be anything,
		// so only the status is reported.
		return &platform.Error{Kind: platform.StatusKind(status), Status: status, Message: "HTTP " + strconv.Itoa(status) + " " + http.StatusText(status)}
	}
	ge := env.Error
	msg := ge.Message
	if msg == "" {
		msg = "HTTP " + strconv.Itoa(status) + " " + http.StatusText(status)
	}
	return &platform.Error{Kind: codeKind(ge.Code), Status: status, Code: ge.Code, Subcode: ge.ErrorSubcode, Message: msg}
}

// codeKind maps a Graph error code to what a caller can do about it
// (https://developers.facebook.com/docs/graph-api/guides/error-handling).
func codeKind(code int) platform.Kind {
	switch {
	case code == 190 || code == 102: // token expired, revoked or invalid; session invalid
		return platform.Auth
	case code == 10 || (code >= 200 && code <= 299): // permission missing or denied
		return platform.Auth
	case code == 4 || code == 17 || code == 32 || code == 613 || (code >= 80001 && code <= 80009):
		return platform.RateLimited
	case code == 1 || code == 2: // unknown error, service temporarily unavailable
		return platform.Transient
	default:
		return platform.Permanent
	}
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); zero when absent or unreadable.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// headerRecorder keeps the headers of the last response it saw.
type headerRecorder struct {
	base http.RoundTripper
	into *http.Header
}

func (h headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := h.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if resp != nil {
		*h.into = resp.Header
	}
	return resp, err
}

// PostJSON calls POST {path} with body marshalled as JSON, which the
// Messenger and WhatsApp send APIs take, and decodes the answer into out.
func (c *Client) PostJSON(ctx context.Context, platformName, path, token string, body, out any) error {
	return c.Do(ctx, platformName, Request{Method: http.MethodPost, Path: path, Token: token, JSON: body}, out)
}

// SendKind is what a failed send means, for platform.Reclassify. The shared
// classification suits connecting, where a missing permission is the
// token's fault; on a send, permission errors (10, 200-299: outside the
// messaging window, a user who blocked the page), 551 (the person is not
// available) and 100 (a bad parameter, an unknown recipient) are about this
// one message, and retrying it or reconnecting will not change them. Only a
// dead token or session (190, 102) still calls for reconnecting.
func SendKind(e *platform.Error) platform.Kind {
	switch c := e.Code; {
	case c == 190 || c == 102:
		return platform.Auth
	case c == 10 || c == 100 || c == 551 || (c >= 200 && c <= 299):
		return platform.Permanent
	default:
		return e.Kind
	}
}
