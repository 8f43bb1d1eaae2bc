package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

// Channel is the WhatsApp Cloud API for Switchboard: numbers connected with
// a system-user token; webhooks configured once per Meta app, signed with
// the app secret.
type Channel struct {
	graphapi.AppWebhook
	api *Client
}

// NewChannel returns the WhatsApp channel; appSecret verifies webhooks and
// verifyToken answers Meta's subscription handshake.
func NewChannel(api *Client, appSecret, verifyToken string) *Channel {
	return &Channel{api: api, AppWebhook: graphapi.AppWebhook{Secret: appSecret, VerifyToken: verifyToken}}
}

var (
	_ platform.Channel   = (*Channel)(nil)
	_ platform.AppSigned = (*Channel)(nil)
	_ platform.Sender    = (*Channel)(nil)
)

// Credentials are a number's secrets. The JSON names are the stored format.
type Credentials struct {
	AccessToken string `json:"accessToken,omitempty"`
}

// Token is the access token.
func (c *Credentials) Token() string { return c.AccessToken }

// WebhookKey is empty: the app secret signs WhatsApp webhooks.
func (c *Credentials) WebhookKey() string { return "" }

func creds(a platform.Account) *Credentials { return a.Credentials.(*Credentials) }

// ConnectInput is connectWhatsApp's input.
type ConnectInput struct {
	CampaignID    pulid.ID
	PhoneNumberID string
	AccessToken   string
}

// Platform is WhatsApp.
func (ConnectInput) Platform() schematype.Platform { return schematype.PlatformWhatsApp }

// Campaign is the campaign to connect the number to.
func (in ConnectInput) Campaign() pulid.ID { return in.CampaignID }

// Platform is WhatsApp.
func (*Channel) Platform() schematype.Platform { return schematype.PlatformWhatsApp }

// Title is "WhatsApp".
func (*Channel) Title() string { return "WhatsApp" }

// NewCredentials returns empty number credentials.
func (*Channel) NewCredentials() platform.Credentials { return &Credentials{} }

// WebhookPath is the app's one WhatsApp URL.
func (*Channel) WebhookPath(pulid.ID) string { return "/webhooks/whatsapp" }

// Split cuts the body into messages and statuses.
func (*Channel) Split(body []byte) ([]inbound.Fragment, error) { return Split(body) }

// Decode decodes a journaled message or status.
func (*Channel) Decode(raw []byte) (*inbound.Event, error) { return Decode(raw) }

// Ack is empty: the Cloud API only reads the status.
func (*Channel) Ack() string { return "" }

// TestEvent is a synthetic message signed with the app secret.
func (ch *Channel) TestEvent(acct platform.Account, nonce string) ([]byte, http.Header) {
	body := TestEvent(acct.ExternalID, nonce)
	return body, ch.SignedTest(body)
}

// Connect validates the token by reading the phone number. Webhooks are the
// app's, so there is nothing to register per number.
func (ch *Channel) Connect(ctx context.Context, in platform.ConnectInput) (*platform.Plan, error) {
	input := in.(ConnectInput)
	phoneID, token := strings.TrimSpace(input.PhoneNumberID), strings.TrimSpace(input.AccessToken)
	if phoneID == "" || strings.Trim(phoneID, "0123456789") != "" {
		return nil, apperr.Input("phoneNumberID", "must be the numeric phone_number_id from WhatsApp Manager, not the phone number itself")
	}
	if token == "" {
		return nil, apperr.Input("accessToken", "must not be empty")
	}
	num, err := ch.api.PhoneNumber(ctx, phoneID, token)
	if err != nil {
		return nil, userError(err)
	}
	return &platform.Plan{Accounts: []platform.NewAccount{{
		ExternalID: num.ID, Name: num.VerifiedName, Username: num.DisplayPhoneNumber,
		Credentials: &Credentials{AccessToken: token}, Title: "WhatsApp number " + num.DisplayPhoneNumber,
	}}}, nil
}

// userError blames the token for auth failures and the phone number id
// for requests Graph refuses outright (an id the token cannot see).
func userError(err error) error {
	var pe *platform.Error
	if errors.As(err, &pe) && pe.Kind == platform.Permanent {
		return apperr.Input("phoneNumberID", "WhatsApp cannot read this phone number with this token: %s", pe.Message)
	}
	return platform.UserError(err, "accessToken", "WhatsApp rejected the access token")
}

// Check reads the number with the stored token: that the token still
// works, the number's quality rating and its messaging limit. Webhooks are
// configured on the Meta app, not per number, so their registration cannot
// be asked here.
func (ch *Channel) Check(ctx context.Context, acct platform.Account) (*platform.Report, error) {
	r := &platform.Report{}
	h := &r.Health
	num, err := ch.api.Health(ctx, acct.ExternalID, creds(acct).AccessToken)
	h.TokenValid = platform.TokenVerdict(err)
	if err != nil {
		return r.Fail("token valid", err)
	}
	h.QualityRating, h.MessagingLimitTier = num.QualityRating, num.MessagingLimit
	r.Add(platform.Check{Name: "token valid", OK: true, Detail: fmt.Sprintf("reads %s (%s)", num.DisplayPhoneNumber, num.VerifiedName)},
		platform.Check{Name: "phone number quality", OK: num.QualityRating != "RED", Detail: "quality rating " + strings.ToLower(num.QualityRating)})
	if num.MessagingLimit != "" {
		r.Add(platform.Check{Name: "messaging limit", OK: true, Detail: "messaging limit " + num.MessagingLimit + " (customers messaged outside the 24-hour window, per 24 hours)"})
	}
	r.Add(platform.Check{Name: "webhook", OK: true, Detail: "configure the Meta app's WhatsApp webhook to " + acct.WebhookURL})
	return r, nil
}

// Reconnect reads the number with the stored token.
func (ch *Channel) Reconnect(ctx context.Context, acct platform.Account) error {
	_, err := ch.api.PhoneNumber(ctx, acct.ExternalID, creds(acct).AccessToken)
	return err
}

// Unregister does nothing: the webhook is the app's, not the number's.
func (*Channel) Unregister(context.Context, platform.Account) error { return nil }

// Update replaces the access token after reading the number with it.
func (ch *Channel) Update(ctx context.Context, acct platform.Account, in platform.CredentialsUpdate) (platform.Credentials, *time.Time, error) {
	if err := in.Only(schematype.PlatformWhatsApp, "accessToken"); err != nil {
		return nil, nil, err
	}
	token := strings.TrimSpace(*in.AccessToken)
	if _, err := ch.api.PhoneNumber(ctx, acct.ExternalID, token); err != nil {
		return nil, nil, platform.UserError(err, "input.accessToken", "WhatsApp rejected the access token")
	}
	return &Credentials{AccessToken: token}, nil, nil
}

// Text and caption limits of the Cloud API, in characters.
const (
	maxText    = 4096
	maxCaption = 1024
)

// window is how long after the customer's last message free-form messages
// are allowed (the customer service window).
const window = 24 * time.Hour

// Limits: text up to 4096 characters, any attachment kind, and free-form
// messages only within the customer service window.
func (*Channel) Limits() platform.Limits {
	return platform.Limits{
		Text:   maxText,
		Kinds:  []platform.MediaKind{platform.Image, platform.File, platform.Audio, platform.Video},
		Window: window,
		WindowRule: "WhatsApp allows free-form messages only within 24 hours of the customer's last message. " +
			"After that only an approved template message can be sent, so the customer has to write again first.",
	}
}

// Send sends m from the number to the WhatsApp user m.To. Text up to 1024
// characters is the attachment's caption; longer text, and any text with
// audio (which takes no caption), goes as a message of its own.
func (ch *Channel) Send(ctx context.Context, acct platform.Account, m platform.Outbound) (platform.Sent, error) {
	token := creds(acct).AccessToken
	caption := maxCaption
	if m.Media != nil && !Captioned(m.Media.Kind) {
		caption = 0
	}
	pieces := platform.Pieces(m, caption)
	var sent platform.Sent
	for _, p := range pieces[min(max(m.Done, 0), len(pieces)):] {
		var id string
		var err error
		if p.Media == nil {
			id, err = ch.api.SendText(ctx, acct.ExternalID, token, p.To, p.Text)
		} else {
			id, err = ch.api.SendMedia(ctx, acct.ExternalID, token, p.To, *p.Media, p.Text)
		}
		if err != nil {
			return sent, err
		}
		sent.IDs = append(sent.IDs, id)
	}
	return sent, nil
}
