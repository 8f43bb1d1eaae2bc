// Package whatsapp connects WhatsApp Cloud API phone numbers through the
// Graph API.
package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

// platformName is the Platform of every error this package returns.
const platformName = "whatsapp"

// Client calls the Cloud API. Cloud API numbers live on graph.facebook.com,
// so the graphapi.Client is usually the one the facebook package uses.
type Client struct {
	g *graphapi.Client
}

// New returns a client that calls through g.
func New(g *graphapi.Client) *Client {
	return &Client{g: g}
}

// PhoneNumber is a business phone number registered with the Cloud API.
type PhoneNumber struct {
	ID, DisplayPhoneNumber, VerifiedName string
	QualityRating                        string // "GREEN", "YELLOW", "RED" or "UNKNOWN"
	// MessagingLimit is how many customers may be messaged outside the
	// service window in 24 hours ("TIER_250", "TIER_2K", ...; "" when
	// Graph did not say). Only Health asks for it.
	MessagingLimit string
}

// phoneFields are what connecting a number reads.
const phoneFields = "id,display_phone_number,verified_name,quality_rating"

// healthFields add the messaging limit. Meta moved messaging limits to the
// business portfolio in October 2025 and deprecated the number's
// messaging_limit_tier for whatsapp_business_manager_messaging_limit
// (developers.facebook.com/docs/whatsapp/messaging-limits). Both are asked
// for and the new one preferred. UNCONFIRMED: that Graph omits, rather than
// refuses, a deprecated field (one integrator's example asks for both on
// v25.0 and gets only the new one back), that the new field is served on
// older Graph versions, and that its value is a tier name like
// messaging_limit_tier's ("TIER_2K" in integrators' docs).
const healthFields = phoneFields + ",whatsapp_business_manager_messaging_limit,messaging_limit_tier"

// PhoneNumber reads phoneNumberID with token; connecting a number calls it
// to check the token can reach the number at all.
func (c *Client) PhoneNumber(ctx context.Context, phoneNumberID, token string) (*PhoneNumber, error) {
	return c.phoneNumber(ctx, phoneNumberID, token, phoneFields)
}

// Health reads phoneNumberID with token as PhoneNumber does, with its
// messaging limit.
func (c *Client) Health(ctx context.Context, phoneNumberID, token string) (*PhoneNumber, error) {
	n, err := c.phoneNumber(ctx, phoneNumberID, token, healthFields)
	var pe *platform.Error
	if errors.As(err, &pe) && pe.Code == 100 {
		// Graph refuses a field it does not know (code 100, "Tried accessing
		// nonexisting field"): should either limit field be gone or not yet
		// served, the number's health is still worth knowing without it.
		return c.phoneNumber(ctx, phoneNumberID, token, phoneFields)
	}
	return n, err
}

func (c *Client) phoneNumber(ctx context.Context, phoneNumberID, token, fields string) (*PhoneNumber, error) {
	var resp struct {
		ID                 string          `json:"id"`
		DisplayPhoneNumber string          `json:"display_phone_number"`
		VerifiedName       string          `json:"verified_name"`
		QualityRating      string          `json:"quality_rating"`
		PortfolioLimit     json.RawMessage `json:"whatsapp_business_manager_messaging_limit"`
		LimitTier          string          `json:"messaging_limit_tier"`
	}
	q := url.Values{"fields": {fields}}
	if err := c.g.Get(ctx, platformName, "/"+url.PathEscape(phoneNumberID), token, q, &resp); err != nil {
		return nil, err
	}
	n := &PhoneNumber{ID: resp.ID, DisplayPhoneNumber: resp.DisplayPhoneNumber, VerifiedName: resp.VerifiedName,
		QualityRating: resp.QualityRating, MessagingLimit: resp.LimitTier}
	if l := limitText(resp.PortfolioLimit); l != "" {
		n.MessagingLimit = l
	}
	return n, nil
}

// limitText reads the portfolio's messaging limit whether Graph writes it
// as a tier name or, as one integrator documents, as a number.
func limitText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// mediaTypes are the Cloud API message types per media kind.
var mediaTypes = map[platform.MediaKind]string{
	platform.Image: "image",
	platform.File:  "document",
	platform.Audio: "audio",
	platform.Video: "video",
}

// Captioned reports whether a media kind takes a caption: audio does not.
func Captioned(kind platform.MediaKind) bool { return kind != platform.Audio }

type textBody struct {
	PreviewURL bool   `json:"preview_url"`
	Body       string `json:"body"`
}

type mediaBody struct {
	Link    string `json:"link"`
	Caption string `json:"caption,omitempty"`
}

// SendText sends text from phoneNumberID to the WhatsApp user to (a wa_id)
// and returns the message's wamid, the id its statuses carry.
func (c *Client) SendText(ctx context.Context, phoneNumberID, token, to, text string) (string, error) {
	// Link previews stay off: an agent's text is shown as written, and a
	// preview would fetch whatever URL a customer's quoted text contains.
	return c.send(ctx, phoneNumberID, token, to, "text", textBody{PreviewURL: false, Body: text})
}

// SendMedia sends the file at media.URL, which Meta downloads itself, with
// caption under it ("" for none; audio takes none).
func (c *Client) SendMedia(ctx context.Context, phoneNumberID, token, to string, media platform.Media, caption string) (string, error) {
	typ, ok := mediaTypes[media.Kind]
	if !ok || (caption != "" && !Captioned(media.Kind)) {
		msg := "WhatsApp cannot send attachments of kind " + string(media.Kind)
		if ok {
			msg = "WhatsApp takes no caption with " + typ
		}
		return "", &platform.Error{Platform: platformName, Op: http.MethodPost + " " + messagesPath(phoneNumberID), Kind: platform.Permanent, Message: msg}
	}
	return c.send(ctx, phoneNumberID, token, to, typ, mediaBody{Link: media.URL, Caption: caption})
}

func (c *Client) send(ctx context.Context, phoneNumberID, token, to, typ string, content any) (string, error) {
	body := map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"to":                to,
		"type":              typ,
		typ:                 content,
	}
	var resp struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	path := messagesPath(phoneNumberID)
	if err := c.g.PostJSON(ctx, platformName, path, token, body, &resp); err != nil {
		return "", platform.Reclassify(err, sendKind)
	}
	if len(resp.Messages) == 0 || resp.Messages[0].ID == "" {
		// The message may well have been accepted; sending it again could
		// deliver it twice, so this is not retried.
		return "", &platform.Error{Platform: platformName, Op: http.MethodPost + " " + path, Kind: platform.Permanent, Status: http.StatusOK, Message: "the answer has no message id"}
	}
	return resp.Messages[0].ID, nil
}

// sendKind is graphapi.SendKind plus the Cloud API's own codes
// (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes).
func sendKind(e *platform.Error) platform.Kind {
	switch e.Code {
	case 130429, 131056: // the number's throughput, or its pair rate with this one customer
		return platform.RateLimited
	case 131047: // re-engagement: 24 hours have passed, only a template can be sent
		return platform.Permanent
	}
	return graphapi.SendKind(e)
}

func messagesPath(phoneNumberID string) string {
	return "/" + url.PathEscape(phoneNumberID) + "/messages"
}
