// Package zalo is a client for the Zalo Official Account API: the OAuth v4
// token grants on oauth.zaloapp.com and the OpenAPI on openapi.zalo.me.
package zalo

import (
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

// The production hosts, for New.
const (
	DefaultOAuthURL   = "https://oauth.zaloapp.com"
	DefaultOpenAPIURL = "https://openapi.zalo.me"
)

// Client calls the Zalo OA API. It holds no credentials, so one Client
// serves every app and OA.
type Client struct {
	oauthURL   string
	openAPIURL string
	hc         *http.Client
}

// New returns a client for the given OAuth and OpenAPI base URLs (see
// DefaultOAuthURL and DefaultOpenAPIURL; tests point both at one fake). A nil
// hc means platform.NewHTTPClient().
func New(oauthURL, openAPIURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = platform.NewHTTPClient()
	}
	return &Client{
		oauthURL:   strings.TrimRight(oauthURL, "/"),
		openAPIURL: strings.TrimRight(openAPIURL, "/"),
		hc:         hc,
	}
}

// Token is an OA access token with the refresh token minted alongside it.
// A refresh token is single-use: once RefreshToken succeeds with it, only
// the returned RefreshToken works, so it must be stored before anything else
// can fail. ExpiresIn is zero when Zalo did not say.
type Token struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
}

// Ops of the token grants, as they appear in errors.
const (
	OpAuthorizationCode = "authorization_code"
	OpRefreshToken      = "refresh_token"
	OpGetOA             = "GET /v2.0/oa/getoa"
)

// TokenFromCode exchanges an authorization code from the OA permission
// redirect, with the PKCE verifier whose challenge was sent there.
func (c *Client) TokenFromCode(ctx context.Context, appID, appSecret, code, codeVerifier string) (*Token, error) {
	form := url.Values{"code": {code}, "code_verifier": {codeVerifier}}
	return c.grant(ctx, OpAuthorizationCode, appID, appSecret, form, code, codeVerifier)
}

// RefreshToken spends refreshToken for a new pair. Zalo invalidates both
// refreshToken and the access token minted with it as soon as this succeeds,
// so callers must serialize refreshes per OA: a second concurrent refresh
// with the same token fails with an Auth error.
func (c *Client) RefreshToken(ctx context.Context, appID, appSecret, refreshToken string) (*Token, error) {
	form := url.Values{"refresh_token": {refreshToken}}
	return c.grant(ctx, OpRefreshToken, appID, appSecret, form, refreshToken)
}

// tokenResponse is both the success and the error shape of the token
// endpoint; expires_in and error are read leniently because Zalo sends
// expires_in as a string where a number would be expected.
type tokenResponse struct {
	AccessToken      string     `json:"access_token"`
	RefreshToken     string     `json:"refresh_token"`
	ExpiresIn        flexString `json:"expires_in"`
	Error            flexString `json:"error"`
	ErrorName        string     `json:"error_name"`
	ErrorDescription string     `json:"error_description"`
}

func (c *Client) grant(ctx context.Context, op, appID, appSecret string, form url.Values, secrets ...string) (*Token, error) {
	form.Set("app_id", appID)
	form.Set("grant_type", op)
	status, body, err := platform.Do(ctx, c.hc, platform.Call{
		Platform: platformName,
		Op:       op,
		Method:   http.MethodPost,
		URL:      c.oauthURL + "/v4/oa/access_token",
		Header: http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"},
			"secret_key":   {appSecret},
		},
		Body: strings.NewReader(form.Encode()),
	})
	secrets = append(secrets, appSecret)
	if err != nil {
		return nil, scrub(err, secrets...)
	}
	tok, err := parseToken(op, status, body)
	if err != nil {
		// Zalo's descriptions might quote what it was sent.
		return nil, scrub(err, secrets...)
	}
	return tok, nil
}

func parseToken(op string, status int, body []byte) (*Token, error) {
	fail := func(kind platform.Kind, code int, msg string) error {
		return &platform.Error{Platform: platformName, Op: op, Kind: kind, Status: status, Code: code, Message: platform.Redact(msg)}
	}
	var r tokenResponse
	decErr := platform.DecodeJSON(body, &r)
	code, codeErr := r.Error.int()
	if codeErr != nil {
		code = 0
	}
	msg := r.ErrorDescription
	if msg == "" {
		msg = r.ErrorName
	}
	hasError := decErr == nil && (code != 0 || codeErr != nil || msg != "")
	if msg == "" {
		msg = strings.TrimSpace("HTTP " + strconv.Itoa(status) + " " + http.StatusText(status))
	}
	switch {
	case status == http.StatusTooManyRequests:
		return nil, fail(platform.RateLimited, code, msg)
	case status >= 500:
		return nil, fail(platform.Transient, code, msg)
	case hasError:
		// Zalo's OAuth error table is not published; what is known
		// (-14014 invalid refresh token, invalid code or verifier, wrong
		// app or secret) all mean the grant cannot work without the user
		// authorizing again or the app being reconfigured.
		return nil, fail(platform.Auth, code, msg)
	case !ok2xx(status):
		return nil, fail(platform.StatusKind(status), 0, msg)
	case decErr != nil:
		// Most likely a page from something in front of Zalo. Retrying is
		// right even for a refresh: if the token was spent, the retry gets
		// an Auth error rather than a silent loss.
		return nil, fail(platform.Transient, 0, "unreadable response")
	case r.AccessToken == "":
		return nil, fail(platform.Transient, 0, "response has no access_token")
	}
	tok := &Token{AccessToken: r.AccessToken, RefreshToken: r.RefreshToken}
	if s := strings.TrimSpace(string(r.ExpiresIn)); s != "" {
		if secs, err := strconv.ParseFloat(s, 64); err == nil && secs > 0 {
			tok.ExpiresIn = time.Duration(secs * float64(time.Second))
		}
	}
	return tok, nil
}

// OA is an Official Account's public profile. ID is kept as the exact
// decimal text because Zalo ids overflow float64.
type OA struct {
	ID          string
	Name        string
	Description string
	AvatarURL   string
}

// GetOA returns the OA that accessToken belongs to; it doubles as the check
// that a token still works.
func (c *Client) GetOA(ctx context.Context, accessToken string) (*OA, error) {
	var d struct {
		OAID        flexString `json:"oa_id"`
		Name        string     `json:"name"`
		Description string     `json:"description"`
		Avatar      string     `json:"avatar"`
	}
	if err := c.openAPI(ctx, OpGetOA, http.MethodGet, "/v2.0/oa/getoa", accessToken, nil, &d); err != nil {
		return nil, err
	}
	if d.OAID == "" {
		return nil, &platform.Error{Platform: platformName, Op: OpGetOA, Kind: platform.Permanent, Status: http.StatusOK, Message: "response has no oa_id"}
	}
	return &OA{ID: string(d.OAID), Name: d.Name, Description: d.Description, AvatarURL: d.Avatar}, nil
}

// openAPI makes one OpenAPI call and parses its envelope into data.
func (c *Client) openAPI(ctx context.Context, op, method, path, accessToken string, body io.Reader, data any) error {
	h := http.Header{"access_token": {accessToken}}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	status, resp, err := platform.Do(ctx, c.hc, platform.Call{
		Platform: platformName,
		Op:       op,
		Method:   method,
		URL:      c.openAPIURL + path,
		Header:   h,
		Body:     body,
	})
	if err != nil {
		return scrub(err, accessToken)
	}
	return scrub(ParseEnvelope(op, status, resp, data), accessToken)
}

// OpUserDetail is the Op of UserDetail's errors.
const OpUserDetail = "GET /v3.0/oa/user/detail"

// Profile is what the OA may read about one of its users.
type Profile struct {
	Name      string
	AvatarURL string
}

// UserDetail reads a user's display name and avatar (webhooks carry only the
// user's id).
func (c *Client) UserDetail(ctx context.Context, accessToken, userID string) (*Profile, error) {
	q, _ := json.Marshal(map[string]string{"user_id": userID})
	var d struct {
		DisplayName string `json:"display_name"`
		Avatar      string `json:"avatar"`
	}
	path := "/v3.0/oa/user/detail?data=" + url.QueryEscape(string(q))
	if err := c.openAPI(ctx, OpUserDetail, http.MethodGet, path, accessToken, nil, &d); err != nil {
		return nil, err
	}
	return &Profile{Name: d.DisplayName, AvatarURL: d.Avatar}, nil
}
