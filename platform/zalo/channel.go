package zalo

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/platform"
)

// Channel is Zalo Official Accounts for Switchboard: OAs connected with
// OAuth v4 tokens that expire and are renewed, webhooks configured per Zalo
// app and signed with each OA's secret key.
type Channel struct {
	api *Client
	// appID and appSecret are our Zalo app's, the defaults of connectZalo.
	appID, appSecret string
	// maxAge is the age past which a signed event is refused as a replay.
	maxAge time.Duration
	now    func() time.Time
	// media fetches agents' attachments, which Zalo takes as uploads only.
	media *http.Client
}

// DefaultMaxEventAge is ZALO_MAX_EVENT_AGE's default: Zalo is said to
// retry for up to 12 hours, with the original timestamp.
const DefaultMaxEventAge = 24 * time.Hour

// NewChannel returns the Zalo channel; appID and appSecret are the defaults
// of connectZalo's appID and appSecretKey (ZALO_APP_ID, ZALO_APP_SECRET).
// Signed events older than maxEventAge are refused (0: DefaultMaxEventAge).
// media fetches the attachments of sends (nil: platform.MediaClient(false)).
func NewChannel(api *Client, appID, appSecret string, maxEventAge time.Duration, media *http.Client) *Channel {
	if media == nil {
		media = platform.MediaClient(false)
	}
	if maxEventAge <= 0 {
		maxEventAge = DefaultMaxEventAge
	}
	return &Channel{api: api, appID: appID, appSecret: appSecret, maxAge: maxEventAge, now: time.Now, media: media}
}

var (
	_ platform.Channel        = (*Channel)(nil)
	_ platform.AccountRouted  = (*Channel)(nil)
	_ platform.TokenRenewer   = (*Channel)(nil)
	_ platform.ProfileFetcher = (*Channel)(nil)
	_ platform.Sender         = (*Channel)(nil)
)

// Credentials are an OA's secrets. The JSON names are the stored format.
type Credentials struct {
	AccessToken  string `json:"accessToken,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	OASecretKey  string `json:"oaSecretKey,omitempty"`
	AppID        string `json:"appID,omitempty"`
	AppSecret    string `json:"appSecret,omitempty"`
}

// Token is the access token.
func (c *Credentials) Token() string { return c.AccessToken }

// WebhookKey is the OA secret key, which signs the OA's webhooks.
func (c *Credentials) WebhookKey() string { return c.OASecretKey }

func creds(a platform.Account) *Credentials { return a.Credentials.(*Credentials) }

// ConnectInput is connectZalo's flat input: either AccessToken +
// RefreshToken, or AuthorizationCode + CodeVerifier (from the OAuth v4 PKCE
// flow).
type ConnectInput struct {
	CampaignID        pulid.ID
	OASecretKey       string
	AccessToken       *string
	RefreshToken      *string
	AuthorizationCode *string
	CodeVerifier      *string
	AppID             *string
	AppSecretKey      *string
}

// Platform is Zalo.
func (ConnectInput) Platform() schematype.Platform { return schematype.PlatformZalo }

// Campaign is the campaign to connect the OA to.
func (in ConnectInput) Campaign() pulid.ID { return in.CampaignID }

// unknownExpiry is assumed for tokens given to us directly (Zalo tells the
// lifetime only when minting): they are then renewed early, and the renewal
// learns the real expiry.
const unknownExpiry = time.Hour

// Platform is Zalo.
func (*Channel) Platform() schematype.Platform { return schematype.PlatformZalo }

// Title is "Zalo".
func (*Channel) Title() string { return "Zalo" }

// NewCredentials returns empty OA credentials.
func (*Channel) NewCredentials() platform.Credentials { return &Credentials{} }

// WebhookPath names the connection. The body's OA routes the event
// whatever the path names, since a Zalo app has one webhook URL for all
// its OAs: the app-wide /webhooks/zalo is the one to give Zalo.
func (*Channel) WebhookPath(id pulid.ID) string { return "/webhooks/zalo/" + string(id) }

// appWebhookURL is the app-wide URL of the account's webhooks.
func appWebhookURL(acct platform.Account) string {
	return strings.TrimSuffix(acct.WebhookURL, "/"+string(acct.ConnectionID))
}

// Verify checks the signature with the OA's secret key.
func (*Channel) Verify(h http.Header, body []byte, oaSecretKey string) error {
	return Verify(h, body, oaSecretKey)
}

// ErrOtherApp refuses an event signed with the OA's key but sent for
// another app than the OA's: a replay from another app's webhook.
var ErrOtherApp = errors.New("app_id is not the OA's Zalo app")

// VerifyApp checks, after Verify, that a body was sent for the OA's app
// (the app it was connected with, or ZALO_APP_ID): the signature covers
// the app_id, but every app the OA has ever used signs with the same key.
func (ch *Channel) VerifyApp(body []byte, c platform.Credentials) error {
	env, err := Peek(body)
	if err != nil {
		return err
	}
	if env.AppID != ch.AppID(c) {
		return ErrOtherApp
	}
	return nil
}

// CheckAge refuses an event older than maxEventAge: Zalo retries with the
// original timestamp, for hours at most, so an older one is a replay.
func (ch *Channel) CheckAge(body []byte) error {
	env, err := Peek(body)
	if err != nil {
		return err
	}
	at, err := parseMillis(env.Timestamp)
	if err != nil {
		return err
	}
	if age := ch.now().Sub(at); age > ch.maxAge {
		return fmt.Errorf("event timestamp %s is %s old, older than the %s a retry can be", at.Format(time.RFC3339), age.Round(time.Second), ch.maxAge)
	}
	return nil
}

// Peek finds the OA an unverified body is for.
func (*Channel) Peek(body []byte) (string, error) {
	env, err := Peek(body)
	if err != nil {
		return "", err
	}
	return env.OAID, nil
}

// Split cuts the body into its one event.
func (*Channel) Split(body []byte) ([]inbound.Fragment, error) { return Split(body) }

// Decode decodes a journaled event.
func (*Channel) Decode(raw []byte) (*inbound.Event, error) { return Decode(raw) }

// Ack is empty: Zalo only reads the status.
func (*Channel) Ack() string { return "" }

// TestEvent is a synthetic user_send_text signed with the OA's key.
func (ch *Channel) TestEvent(acct platform.Account, nonce string) ([]byte, http.Header) {
	c := creds(acct)
	appID := ch.AppID(c)
	body, ts := TestEvent(appID, acct.ExternalID, nonce)
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(SignatureHeader, Sign(appID, body, ts, c.OASecretKey))
	return body, h
}

// Connect obtains or accepts the OA's tokens and reads the OA. Zalo
// webhooks are configured per app (pointing at /webhooks/zalo), so there
// is nothing to register per OA; the OA secret key verifies them.
func (ch *Channel) Connect(ctx context.Context, in platform.ConnectInput) (*platform.Plan, error) {
	input := in.(ConnectInput)
	secretKey := strings.TrimSpace(input.OASecretKey)
	if secretKey == "" {
		return nil, apperr.Input("oaSecretKey", "must not be empty: it verifies Zalo's webhook signatures (OA Secret Key in the app's webhook settings)")
	}
	appID, appSecret := platform.Or(input.AppID, ch.appID), platform.Or(input.AppSecretKey, ch.appSecret)
	access, refresh := platform.Trimmed(input.AccessToken), platform.Trimmed(input.RefreshToken)
	code, verifier := platform.Trimmed(input.AuthorizationCode), platform.Trimmed(input.CodeVerifier)
	byTokens, byCode := access != "" && refresh != "", code != "" && verifier != ""
	switch {
	case !byTokens && !byCode:
		field := "accessToken"
		if access != "" {
			field = "refreshToken"
		} else if code != "" {
			field = "codeVerifier"
		}
		return nil, apperr.Input(field, "give either accessToken and refreshToken, or authorizationCode and codeVerifier")
	case byCode && (appID == "" || appSecret == ""):
		return nil, apperr.Input("appID", "exchanging an authorization code needs the Zalo app's id and secret key (appID/appSecretKey, or ZALO_APP_ID/ZALO_APP_SECRET)")
	}
	c := &Credentials{AccessToken: access, RefreshToken: refresh, OASecretKey: secretKey, AppID: appID, AppSecret: appSecret}
	expiresAt := ch.now().Add(unknownExpiry)
	if !byTokens {
		tok, err := ch.api.TokenFromCode(ctx, appID, appSecret, code, verifier)
		if err != nil {
			return nil, platform.UserError(err, "authorizationCode", "Zalo rejected the authorization code")
		}
		c.AccessToken, c.RefreshToken = tok.AccessToken, tok.RefreshToken
		expiresAt = ch.now().Add(tok.ExpiresIn)
	}
	oa, err := ch.api.GetOA(ctx, c.AccessToken)
	if err != nil {
		return nil, platform.UserError(err, "accessToken", "Zalo rejected the access token")
	}
	return &platform.Plan{Accounts: []platform.NewAccount{{
		ExternalID: oa.ID, Name: oa.Name, Credentials: c, TokenExpiresAt: &expiresAt, Title: fmt.Sprintf("Zalo OA %q", oa.Name),
	}}}, nil
}

// Renew spends the OA's single-use refresh token for a new pair. Callers
// serialise renewals of one OA and store the pair before anything else.
func (ch *Channel) Renew(ctx context.Context, acct platform.Account) (platform.Credentials, time.Time, error) {
	c := *creds(acct)
	tok, err := ch.api.RefreshToken(ctx, c.AppID, c.AppSecret, c.RefreshToken)
	if err != nil {
		return nil, time.Time{}, err
	}
	c.AccessToken, c.RefreshToken = tok.AccessToken, tok.RefreshToken
	return &c, ch.now().Add(tok.ExpiresIn), nil
}

// Check reads the OA with the access token (getoa): the token works and
// the OA is still reachable. It reports the token's expiry and what
// renewing it needs. Zalo webhooks are configured on the app, so their
// registration cannot be asked.
func (ch *Channel) Check(ctx context.Context, acct platform.Account) (*platform.Report, error) {
	c := creds(acct)
	r := &platform.Report{}
	h := &r.Health
	if acct.TokenExpiresAt != nil {
		exp := acct.TokenExpiresAt.UTC()
		h.TokenExpiresAt = &exp
	}
	oa, err := ch.api.GetOA(ctx, c.AccessToken)
	h.TokenValid = platform.TokenVerdict(err)
	if err != nil {
		return r.Fail("token valid", err)
	}
	r.Add(platform.Check{Name: "token valid", OK: true, Detail: fmt.Sprintf("reads OA %q (%s)", oa.Name, oa.ID)})
	if acct.TokenExpiresAt != nil {
		r.Add(platform.Check{Name: "token renewal", OK: acct.TokenExpiresAt.After(ch.now()),
			Detail: "access token valid until " + acct.TokenExpiresAt.UTC().Format(time.RFC3339) + "; renewed automatically before then"})
	}
	r.Add(
		platform.Check{Name: "refresh token stored", OK: c.RefreshToken != "" && c.AppID != "" && c.AppSecret != "",
			Detail: "needed to renew the access token (with the Zalo app id and secret key)"},
		platform.Check{Name: "webhook", OK: c.OASecretKey != "",
			Detail: "set the Zalo app's webhook URL to " + appWebhookURL(acct) + " (one URL for all the app's OAs); signatures are checked with the OA secret key"},
	)
	return r, nil
}

// Reconnect reads the OA with the (just renewed) token.
func (ch *Channel) Reconnect(ctx context.Context, acct platform.Account) error {
	_, err := ch.api.GetOA(ctx, creds(acct).AccessToken)
	return err
}

// Unregister does nothing: the webhook is the app's, not the OA's.
func (*Channel) Unregister(context.Context, platform.Account) error { return nil }

// Update replaces the tokens (together) or the OA secret key, checking that
// new tokens read the same OA.
func (ch *Channel) Update(ctx context.Context, acct platform.Account, in platform.CredentialsUpdate) (platform.Credentials, *time.Time, error) {
	if err := in.Only(schematype.PlatformZalo, "accessToken", "refreshToken", "oaSecretKey"); err != nil {
		return nil, nil, err
	}
	c := *creds(acct)
	if in.OASecretKey != nil {
		if strings.TrimSpace(*in.OASecretKey) == "" {
			return nil, nil, apperr.Input("input.oaSecretKey", "must not be empty")
		}
		c.OASecretKey = strings.TrimSpace(*in.OASecretKey)
	}
	if in.AccessToken == nil && in.RefreshToken == nil {
		return &c, nil, nil
	}
	access, refresh := platform.Trimmed(in.AccessToken), platform.Trimmed(in.RefreshToken)
	if access == "" || refresh == "" {
		return nil, nil, apperr.Input("input.refreshToken", "replace accessToken and refreshToken together")
	}
	oa, err := ch.api.GetOA(ctx, access)
	if err != nil {
		return nil, nil, platform.UserError(err, "input.accessToken", "Zalo rejected the access token")
	}
	if oa.ID != acct.ExternalID {
		return nil, nil, apperr.Input("input.accessToken", "this token belongs to OA %q, not to the connected OA", oa.Name)
	}
	c.AccessToken, c.RefreshToken = access, refresh
	exp := ch.now().Add(unknownExpiry)
	return &c, &exp, nil
}

// Profile reads a user's display name and avatar (webhooks carry only the id).
func (ch *Channel) Profile(ctx context.Context, acct platform.Account, userID string) (*platform.Profile, error) {
	return ch.api.UserDetail(ctx, creds(acct).AccessToken, userID)
}

// Limits are a customer-service message's: text, one image or one file.
// Zalo is said to allow them for 7 days after the user's last message, but
// that is unconfirmed, so no window is claimed.
func (*Channel) Limits() platform.Limits {
	return platform.Limits{Text: MaxText, Kinds: []platform.MediaKind{platform.Image, platform.File}}
}

// Send sends the text and then the attachment, each its own Zalo message
// (a media message carries no caption), skipping the m.Done already taken.
// m.To is the user's id. An attachment is fetched from its URL and uploaded
// first.
func (ch *Channel) Send(ctx context.Context, acct platform.Account, m platform.Outbound) (platform.Sent, error) {
	if m.Media != nil {
		// Checked before the text goes, so that a send that cannot work
		// does not leave half of itself behind.
		if _, err := maxBytes(m.Media.Kind); err != nil {
			return platform.Sent{}, err
		}
	}
	token := creds(acct).AccessToken
	var sent platform.Sent
	for i, p := range platform.Pieces(m, 0) {
		if i < m.Done {
			continue
		}
		msg, err := ch.message(ctx, token, p)
		if err != nil {
			return sent, err
		}
		id, err := ch.api.SendCS(ctx, token, p.To, msg)
		if err != nil {
			return sent, err
		}
		sent.IDs = append(sent.IDs, id)
	}
	return sent, nil
}

// message is the Zalo message of one piece, uploading its attachment.
func (ch *Channel) message(ctx context.Context, token string, p platform.Outbound) (Message, error) {
	if p.Media == nil {
		if strings.TrimSpace(p.Text) == "" {
			return Message{}, &platform.Error{Platform: platformName, Op: OpSendCS, Kind: platform.Permanent, Message: "nothing to send: no text and no attachment"}
		}
		return TextMessage(p.Text), nil
	}
	limit, err := maxBytes(p.Media.Kind)
	if err != nil {
		return Message{}, err
	}
	d, err := platform.FetchMedia(ctx, ch.media, p.Media.URL, limit)
	if err != nil {
		return Message{}, err
	}
	name := withExtension(d.Name, d.ContentType)
	if p.Media.Kind == platform.Image {
		id, err := ch.api.UploadImage(ctx, token, name, d.Data)
		if err != nil {
			return Message{}, err
		}
		return ImageMessage(id), nil
	}
	ft, err := ch.api.UploadFile(ctx, token, name, d.Data)
	if err != nil {
		return Message{}, err
	}
	return FileMessage(ft), nil
}

// maxBytes is the largest attachment of kind Zalo takes.
func maxBytes(kind platform.MediaKind) (int64, error) {
	switch kind {
	case platform.Image:
		return MaxImageBytes, nil
	case platform.File:
		return MaxFileBytes, nil
	}
	return 0, &platform.Error{Platform: platformName, Op: OpSendCS, Kind: platform.Permanent,
		Message: fmt.Sprintf("Zalo cannot send %s attachments, only images and files", kind)}
}

// preferredExt is the usual extension of the types Zalo takes, where
// mime's own choice would be a rare one (.jfif for JPEG).
var preferredExt = map[string]string{
	"image/jpeg":         ".jpg",
	"image/png":          ".png",
	"image/gif":          ".gif",
	"application/pdf":    ".pdf",
	"application/msword": ".doc",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}

// withExtension makes name's extension agree with contentType: Zalo is
// said to judge uploads by the file name's extension, and media URLs often
// have none (/media/8f3a…) or a misleading one (/image.php?id=3).
func withExtension(name, contentType string) string {
	t := mediaType(contentType)
	ext := strings.ToLower(path.Ext(name))
	if ext != "" && (t == "" || t == "application/octet-stream" || mediaType(mime.TypeByExtension(ext)) == t) {
		return name
	}
	want, ok := preferredExt[t]
	if !ok {
		if exts, _ := mime.ExtensionsByType(t); len(exts) > 0 {
			want = exts[0]
		}
	}
	return name + want
}
