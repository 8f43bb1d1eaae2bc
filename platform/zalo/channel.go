package zalo

import (
	"context"
	"fmt"
	"net/http"
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
	now              func() time.Time
}

// NewChannel returns the Zalo channel; appID and appSecret are the defaults
// of connectZalo's appID and appSecretKey (ZALO_APP_ID, ZALO_APP_SECRET).
func NewChannel(api *Client, appID, appSecret string) *Channel {
	return &Channel{api: api, appID: appID, appSecret: appSecret, now: time.Now}
}

var (
	_ platform.Channel        = (*Channel)(nil)
	_ platform.AccountRouted  = (*Channel)(nil)
	_ platform.TokenRenewer   = (*Channel)(nil)
	_ platform.ProfileFetcher = (*Channel)(nil)
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

// WebhookPath names the connection. The app-wide /webhooks/zalo works too:
// the body names the OA.
func (*Channel) WebhookPath(id pulid.ID) string { return "/webhooks/zalo/" + string(id) }

// Verify checks the signature with the OA's secret key.
func (*Channel) Verify(h http.Header, body []byte, oaSecretKey string) error {
	return Verify(h, body, oaSecretKey)
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
	appID := c.AppID
	if appID == "" {
		appID = ch.appID
	}
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

// Check checks the token, its expiry and what renewing it needs.
func (ch *Channel) Check(ctx context.Context, acct platform.Account) ([]platform.Check, error) {
	c := creds(acct)
	oa, err := ch.api.GetOA(ctx, c.AccessToken)
	if err != nil {
		return []platform.Check{platform.Failed("token valid", err)}, err
	}
	checks := []platform.Check{{Name: "token valid", OK: true, Detail: fmt.Sprintf("reads OA %q (%s)", oa.Name, oa.ID)}}
	if acct.TokenExpiresAt != nil {
		checks = append(checks, platform.Check{Name: "token renewal", OK: acct.TokenExpiresAt.After(ch.now()),
			Detail: "access token valid until " + acct.TokenExpiresAt.UTC().Format(time.RFC3339) + "; renewed automatically before then"})
	}
	return append(checks,
		platform.Check{Name: "refresh token stored", OK: c.RefreshToken != "" && c.AppID != "" && c.AppSecret != "",
			Detail: "needed to renew the access token (with the Zalo app id and secret key)"},
		platform.Check{Name: "webhook", OK: c.OASecretKey != "",
			Detail: "set the Zalo app's webhook URL to " + acct.WebhookURL + "; signatures are checked with the OA secret key"},
	), nil
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
