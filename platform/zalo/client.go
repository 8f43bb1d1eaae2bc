// Package zalo is a client for the Zalo Official Account API: the OAuth v4
// token grants on oauth.zaloapp.com and the OpenAPI on openapi.zalo.me.
package zalo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
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
	if err := c.openAPI(ctx, OpGetOA, http.MethodGet, "/v2.0/oa/getoa", accessToken, "", nil, &d); err != nil {
		return nil, err
	}
	if d.OAID == "" {
		return nil, &platform.Error{Platform: platformName, Op: OpGetOA, Kind: platform.Permanent, Status: http.StatusOK, Message: "response has no oa_id"}
	}
	return &OA{ID: string(d.OAID), Name: d.Name, Description: d.Description, AvatarURL: d.Avatar}, nil
}

// openAPI makes one OpenAPI call and parses its envelope into data. The
// body, if any, is of contentType.
func (c *Client) openAPI(ctx context.Context, op, method, path, accessToken, contentType string, body io.Reader, data any) error {
	h := http.Header{"access_token": {accessToken}}
	if body != nil {
		h.Set("Content-Type", contentType)
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

// UserDetail reads a user's display name and avatar (webhooks carry only the
// user's id).
func (c *Client) UserDetail(ctx context.Context, accessToken, userID string) (*platform.Profile, error) {
	q, _ := json.Marshal(map[string]string{"user_id": userID})
	var d struct {
		DisplayName string `json:"display_name"`
		Avatar      string `json:"avatar"`
	}
	path := "/v3.0/oa/user/detail?data=" + url.QueryEscape(string(q))
	if err := c.openAPI(ctx, OpUserDetail, http.MethodGet, path, accessToken, "", nil, &d); err != nil {
		return nil, err
	}
	return &platform.Profile{Name: d.DisplayName, AvatarURL: d.Avatar}, nil
}

// Ops of the message calls, as they appear in errors.
const (
	OpUploadImage = "POST /v2.0/oa/upload/image"
	OpUploadFile  = "POST /v2.0/oa/upload/file"
	OpSendCS      = "POST /v3.0/oa/message/cs"
)

// What Zalo takes in a customer-service message. Zalo's own pages could not
// be read; these come from code search, all [SECONDARY]:
//   - Uploads are multipart/form-data with the file in field "file" and the
//     access_token header; /upload/image answers data.attachment_id and
//     /upload/file answers data.token, which message.attachment.payload.token
//     carries. Seen alike in many unrelated integrations (Python, C#, PHP,
//     Node; e.g. a Vietnamese digest of the OA docs, "Nhóm chat GMF", and an
//     OA bot guide citing developers.zalo.me/docs/official-account/tin-nhan/
//     quan-ly-tin-nhan/upload-file).
//   - nextlevelbuilder/goclaw internal/channels/zalo/oa/endpoints.go: "Upload
//     caps enforced by Zalo: image 1MB, file 5MB" (a Zalo MCP server's
//     zalo_upload_image also says JPG/PNG, max 1 MB); send.go: text is
//     capped at 2000 characters ("error -210 above this"), and /upload/file
//     takes PDF, DOC and DOCX only. goclaw alone reads attachment_id rather
//     than token from /upload/file, so UploadFile accepts either.
const (
	// MaxText is the most characters of a text message.
	MaxText = 2000
	// MaxImageBytes is the largest image /upload/image takes.
	MaxImageBytes = 1 << 20
	// MaxFileBytes is the largest file /upload/file takes.
	MaxFileBytes = 5 << 20
)

// UploadImage uploads a JPG or PNG image for ImageMessage and returns its
// attachment_id. name should carry the extension that matches the bytes.
func (c *Client) UploadImage(ctx context.Context, accessToken, name string, data []byte) (attachmentID string, err error) {
	var d struct {
		AttachmentID flexString `json:"attachment_id"`
	}
	if err := c.upload(ctx, OpUploadImage, "/v2.0/oa/upload/image", accessToken, name, data, &d); err != nil {
		return "", err
	}
	if d.AttachmentID == "" {
		return "", missing(OpUploadImage, "attachment_id")
	}
	return string(d.AttachmentID), nil
}

// UploadFile uploads a document for FileMessage and returns its token. name
// is what the customer sees.
func (c *Client) UploadFile(ctx context.Context, accessToken, name string, data []byte) (fileToken string, err error) {
	var d struct {
		Token        flexString `json:"token"`
		AttachmentID flexString `json:"attachment_id"`
	}
	if err := c.upload(ctx, OpUploadFile, "/v2.0/oa/upload/file", accessToken, name, data, &d); err != nil {
		return "", err
	}
	switch {
	case d.Token != "":
		return string(d.Token), nil
	case d.AttachmentID != "":
		return string(d.AttachmentID), nil
	}
	return "", missing(OpUploadFile, "token")
}

// upload posts data as the multipart field "file" named name.
func (c *Client) upload(ctx context.Context, op, path, accessToken, name string, data []byte, out any) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", multipart.FileContentDisposition("file", name))
	h.Set("Content-Type", partType(name, data))
	part, err := w.CreatePart(h)
	if err == nil {
		_, err = part.Write(data)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return &platform.Error{Platform: platformName, Op: op, Kind: platform.Permanent, Message: "building upload: " + err.Error()}
	}
	return c.openAPI(ctx, op, http.MethodPost, path, accessToken, w.FormDataContentType(), &body, out)
}

// partType is the uploaded file's type: Zalo is said to go by the name's
// extension, so that decides, and the bytes only when there is none.
func partType(name string, data []byte) string {
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
		return t
	}
	return http.DetectContentType(data)
}

// Message is the message of a customer-service send: Text, or one
// Attachment (ImageMessage, FileMessage).
type Message struct {
	Text       string      `json:"text,omitempty"`
	Attachment *Attachment `json:"attachment,omitempty"`
}

// Attachment is message.attachment: an image is a one-element "media"
// template, a file is of type "file".
type Attachment struct {
	Type    string            `json:"type"`
	Payload AttachmentPayload `json:"payload"`
}

// AttachmentPayload is message.attachment.payload.
type AttachmentPayload struct {
	TemplateType string         `json:"template_type,omitempty"`
	Elements     []MediaElement `json:"elements,omitempty"`
	Token        string         `json:"token,omitempty"`
}

// MediaElement is one element of a media template.
type MediaElement struct {
	MediaType    string `json:"media_type"`
	AttachmentID string `json:"attachment_id"`
}

// TextMessage is a text message.
func TextMessage(text string) Message { return Message{Text: text} }

// ImageMessage shows an image uploaded with UploadImage.
func ImageMessage(attachmentID string) Message {
	return Message{Attachment: &Attachment{Type: "template", Payload: AttachmentPayload{
		TemplateType: "media",
		Elements:     []MediaElement{{MediaType: "image", AttachmentID: attachmentID}},
	}}}
}

// FileMessage offers a file uploaded with UploadFile.
func FileMessage(token string) Message {
	return Message{Attachment: &Attachment{Type: "file", Payload: AttachmentPayload{Token: token}}}
}

// SendCS sends m to the user as a customer-service message and returns
// Zalo's message_id.
func (c *Client) SendCS(ctx context.Context, accessToken, userID string, m Message) (messageID string, err error) {
	var req struct {
		Recipient struct {
			UserID string `json:"user_id"`
		} `json:"recipient"`
		Message Message `json:"message"`
	}
	req.Recipient.UserID, req.Message = userID, m
	body, err := json.Marshal(req)
	if err != nil {
		return "", &platform.Error{Platform: platformName, Op: OpSendCS, Kind: platform.Permanent, Message: "encoding message: " + err.Error()}
	}
	var d struct {
		MessageID flexString `json:"message_id"`
	}
	if err := c.openAPI(ctx, OpSendCS, http.MethodPost, "/v3.0/oa/message/cs", accessToken, "application/json", bytes.NewReader(body), &d); err != nil {
		return "", err
	}
	if d.MessageID == "" {
		// Zalo said it took the message, so sending again could deliver
		// it twice; without an id it cannot be matched to its delivery
		// events either. Someone has to look at it.
		return "", missing(OpSendCS, "message_id")
	}
	return string(d.MessageID), nil
}

// missing reports a successful answer that lacks what the call is for.
func missing(op, field string) error {
	return &platform.Error{Platform: platformName, Op: op, Kind: platform.Permanent, Status: http.StatusOK, Message: "response has no " + field}
}

// platformName is the Platform of every error this package returns.
const platformName = "zalo"

// Error codes of the OpenAPI envelope that mean the OA access token is dead.
const (
	// CodeAccessTokenInvalid is what openapi.zalo.me answers for an invalid
	// or expired access token, including one superseded by a refresh.
	CodeAccessTokenInvalid = -216
	// CodeAccessTokenInvalidZNS is the same condition as reported by the ZNS
	// (business.openapi.zalo.me) endpoints.
	CodeAccessTokenInvalidZNS = -124
)

// envelope is the OpenAPI response wrapper. Zalo answers HTTP 200 even for
// failures, so the error field, not the status, carries the outcome.
type envelope struct {
	Error   flexString      `json:"error"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// ParseEnvelope turns an OpenAPI answer ({"error":…,"message":…,"data":…})
// into an error, or decodes its data into data (which may be nil) with
// numbers kept as json.Number. op names the call in errors. The returned
// error is a *platform.Error; its message is Zalo's own, so callers holding
// tokens should still keep them out of it (see the package's scrubbing).
func ParseEnvelope(op string, status int, body []byte, data any) error {
	var env envelope
	if err := platform.DecodeJSON(body, &env); err != nil {
		return statusError(op, status, "unreadable response")
	}
	code, codeErr := env.Error.int()
	if codeErr != nil {
		return statusError(op, status, "unreadable error code")
	}
	if code != 0 {
		kind := platform.Permanent
		switch {
		case code == CodeAccessTokenInvalid || code == CodeAccessTokenInvalidZNS:
			kind = platform.Auth
		case !ok2xx(status):
			kind = platform.StatusKind(status)
		}
		msg := env.Message
		if msg == "" {
			msg = "error " + strconv.Itoa(code)
		}
		return &platform.Error{Platform: platformName, Op: op, Kind: kind, Status: status, Code: code, Message: platform.Redact(msg)}
	}
	if !ok2xx(status) {
		return statusError(op, status, env.Message)
	}
	if data == nil || len(env.Data) == 0 || bytes.Equal(bytes.TrimSpace(env.Data), []byte("null")) {
		return nil
	}
	if err := platform.DecodeJSON(env.Data, data); err != nil {
		// The envelope said success, so the shape of data is what changed;
		// asking again will not fix that.
		return &platform.Error{Platform: platformName, Op: op, Kind: platform.Permanent, Status: status, Message: "unexpected data: " + platform.Redact(err.Error())}
	}
	return nil
}

// statusError reports an answer that carries no usable Zalo error. A 2xx
// that cannot be read is most likely an intermediary's page, so it is
// treated like no answer at all.
func statusError(op string, status int, msg string) error {
	kind := platform.Transient
	if !ok2xx(status) {
		kind = platform.StatusKind(status)
	}
	if msg == "" {
		msg = strings.TrimSpace(fmt.Sprintf("HTTP %d %s", status, http.StatusText(status)))
	} else if !ok2xx(status) {
		msg = fmt.Sprintf("HTTP %d: %s", status, msg)
	}
	return &platform.Error{Platform: platformName, Op: op, Kind: kind, Status: status, Message: platform.Redact(msg)}
}

func ok2xx(status int) bool { return status >= 200 && status < 300 }

// flexString accepts a JSON string or a JSON number and keeps the literal
// text: Zalo sends ids and counts either way, and its ids overflow float64.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*f = flexString(b)
	default:
		return fmt.Errorf("zalo: want a string or number, got %.20s", b)
	}
	return nil
}

// int reads the value as an integer, with empty meaning 0.
func (f flexString) int() (int, error) {
	s := strings.TrimSpace(string(f))
	if s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

// scrub replaces every credential in a platform error's message, since Zalo
// may echo what it was sent and error text ends up in logs and the UI.
func scrub(err error, secrets ...string) error {
	pe, ok := err.(*platform.Error)
	if !ok {
		return err
	}
	for _, s := range secrets {
		// Anything this short is no real credential, and replacing it
		// would mangle ordinary words in the message.
		if len(s) < 4 {
			continue
		}
		pe.Message = strings.ReplaceAll(pe.Message, s, "[redacted]")
	}
	return pe
}
