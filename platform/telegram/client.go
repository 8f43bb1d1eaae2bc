// Package telegram is a client for the Telegram Bot API: checking a bot
// token (getMe) and managing the bot's webhook.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/platform"
)

// DefaultURL is the production Bot API, for New.
const DefaultURL = "https://api.telegram.org"

// platformName is the Platform of every error this package returns.
const platformName = "telegram"

// Client calls the Bot API. It holds no token: every call takes the token of
// the bot it acts for, so one Client serves every connection.
type Client struct {
	baseURL string
	hc      *http.Client
}

// New returns a client for baseURL (DefaultURL, or a self-hosted Bot API
// server, or a telegramtest fake). A nil hc means platform.NewHTTPClient().
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = platform.NewHTTPClient()
	}
	return &Client{baseURL: strings.TrimRight(strings.TrimSpace(baseURL), "/"), hc: hc}
}

// envelope is the wrapper of every Bot API answer. OK is a pointer so that a
// JSON body without it (a proxy's error page, another API) is told apart
// from a Bot API failure.
type envelope struct {
	OK          *bool           `json:"ok"`
	Result      json.RawMessage `json:"result"`
	Description string          `json:"description"`
	ErrorCode   int             `json:"error_code"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// call POSTs params as JSON to method for the bot with token and decodes the
// result into result (nil to ignore it). Errors are *platform.Error and never
// contain the request URL, which carries the token.
func (c *Client) call(ctx context.Context, token, method string, params, result any) error {
	body := []byte("{}")
	if params != nil {
		var err error
		if body, err = json.Marshal(params); err != nil {
			return &platform.Error{Platform: platformName, Op: method, Kind: platform.Permanent, Message: "encoding request: " + err.Error()}
		}
	}
	// PathEscape keeps a pasted token with '/', '?' or spaces inside its
	// path segment, so the server judges the token instead of us calling a
	// different URL.
	status, resp, err := platform.Do(ctx, c.hc, platform.Call{
		Platform: platformName,
		Op:       method,
		Method:   http.MethodPost,
		URL:      c.baseURL + "/bot" + url.PathEscape(token) + "/" + method,
		Header:   http.Header{"Content-Type": {"application/json"}},
		Body:     bytes.NewReader(body),
	})
	if err != nil {
		return err
	}
	var env envelope
	if platform.DecodeJSON(resp, &env) != nil || env.OK == nil {
		return unreadable(method, status)
	}
	if !*env.OK {
		return apiError(method, status, &env)
	}
	if result == nil {
		return nil
	}
	if err := platform.DecodeJSON(env.Result, result); err != nil {
		return &platform.Error{Platform: platformName, Op: method, Kind: platform.Transient, Status: status, Message: "unexpected result: " + err.Error()}
	}
	return nil
}

// unreadable classifies an answer that is not a Bot API envelope. Its body
// is left out of the message: it is not Telegram's wording and may echo the
// request. A 2xx of that kind is most likely a proxy or load balancer
// hiccup, so it counts as Transient.
func unreadable(method string, status int) error {
	kind := platform.Transient
	if status < 200 || status > 299 {
		kind = platform.StatusKind(status)
	}
	msg := "unexpected response: HTTP " + strconv.Itoa(status)
	if text := http.StatusText(status); text != "" {
		msg += " " + text
	}
	return &platform.Error{Platform: platformName, Op: method, Kind: kind, Status: status, Message: msg}
}

// apiError turns an ok:false envelope into a *platform.Error. error_code
// decides the kind when present because the Bot API mirrors it into the HTTP
// status anyway and a proxy may rewrite the status.
func apiError(method string, status int, env *envelope) error {
	code := env.ErrorCode
	if code == 0 {
		code = status
	}
	kind := platform.StatusKind(code)
	if code == http.StatusMisdirectedRequest {
		// 421 "unallowed token specified" is how the server rejects a token
		// whose bot id is not a number: like 401, the token must be replaced.
		kind = platform.Auth
	}
	msg := env.Description
	if msg == "" {
		msg = "error " + strconv.Itoa(code)
	}
	e := &platform.Error{
		Platform: platformName,
		Op:       method,
		Kind:     kind,
		Status:   status,
		Code:     env.ErrorCode,
		Message:  msg,
	}
	if kind == platform.RateLimited {
		e.RetryAfter = retryAfter(env)
	}
	return e
}

// retryAfter reads parameters.retry_after, falling back to the
// "Too Many Requests: retry after N" wording the server uses alongside it.
func retryAfter(env *envelope) time.Duration {
	secs := env.Parameters.RetryAfter
	if secs <= 0 {
		if _, after, ok := strings.Cut(env.Description, "retry after "); ok {
			secs, _ = strconv.Atoi(strings.TrimSpace(after))
		}
	}
	if secs <= 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}
