package telegram

import (
	"context"
	"time"
)

// The Bot API methods this package calls, as they appear in errors' Op.
const (
	OpGetMe          = "getMe"
	OpSetWebhook     = "setWebhook"
	OpGetWebhookInfo = "getWebhookInfo"
	OpDeleteWebhook  = "deleteWebhook"
)

// User is a Telegram user or bot. IDs need 52 bits, hence int64.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
}

// GetMe returns the bot that token belongs to; it is the cheapest way to
// check that a token is alive.
func (c *Client) GetMe(ctx context.Context, token string) (*User, error) {
	var u User
	if err := c.call(ctx, token, OpGetMe, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// WebhookParams are the setWebhook parameters we use.
type WebhookParams struct {
	// URL is the https URL Telegram posts updates to; "" removes the webhook.
	URL string
	// SecretToken, when set, comes back in the X-Telegram-Bot-Api-Secret-Token
	// header of every delivery: 1-256 of [A-Za-z0-9_-] (see NewSecretToken).
	SecretToken string
	// AllowedUpdates nil keeps the bot's previous choice; an empty non-nil
	// slice resets it to Telegram's default (everything except chat_member,
	// message_reaction and message_reaction_count).
	AllowedUpdates []string
	// MaxConnections is 1-100; 0 leaves Telegram's default of 40.
	MaxConnections int
	// DropPendingUpdates discards updates queued before this call.
	DropPendingUpdates bool
}

// setWebhookRequest is the wire form of WebhookParams. allowed_updates is
// omitzero rather than omitempty so that an empty slice is still sent: the
// two mean different things to Telegram.
type setWebhookRequest struct {
	URL                string   `json:"url"`
	SecretToken        string   `json:"secret_token,omitempty"`
	AllowedUpdates     []string `json:"allowed_updates,omitzero"`
	MaxConnections     int      `json:"max_connections,omitempty"`
	DropPendingUpdates bool     `json:"drop_pending_updates,omitempty"`
}

// SetWebhook points the bot's updates at p.URL. Telegram checks the URL and
// secret itself; its refusals come back as Permanent errors carrying its
// description ("Bad Request: invalid webhook URL specified", ...).
func (c *Client) SetWebhook(ctx context.Context, token string, p WebhookParams) error {
	return c.call(ctx, token, OpSetWebhook, setWebhookRequest(p), nil)
}

// WebhookInfo is the bot's webhook as Telegram sees it, including the last
// delivery failure, which is what explains a silent connection.
type WebhookInfo struct {
	URL                  string // "" when no webhook is set
	HasCustomCertificate bool
	PendingUpdateCount   int
	LastErrorDate        time.Time // zero if there was none
	LastErrorMessage     string
	MaxConnections       int
	AllowedUpdates       []string // nil when the bot uses the default set
	IPAddress            string
}

type webhookInfoWire struct {
	URL                  string   `json:"url"`
	HasCustomCertificate bool     `json:"has_custom_certificate"`
	PendingUpdateCount   int      `json:"pending_update_count"`
	IPAddress            string   `json:"ip_address"`
	LastErrorDate        int64    `json:"last_error_date"`
	LastErrorMessage     string   `json:"last_error_message"`
	MaxConnections       int      `json:"max_connections"`
	AllowedUpdates       []string `json:"allowed_updates"`
}

// GetWebhookInfo returns the bot's current webhook.
func (c *Client) GetWebhookInfo(ctx context.Context, token string) (*WebhookInfo, error) {
	var w webhookInfoWire
	if err := c.call(ctx, token, OpGetWebhookInfo, nil, &w); err != nil {
		return nil, err
	}
	info := &WebhookInfo{
		URL:                  w.URL,
		HasCustomCertificate: w.HasCustomCertificate,
		PendingUpdateCount:   w.PendingUpdateCount,
		LastErrorMessage:     w.LastErrorMessage,
		MaxConnections:       w.MaxConnections,
		AllowedUpdates:       w.AllowedUpdates,
		IPAddress:            w.IPAddress,
	}
	if w.LastErrorDate > 0 {
		info.LastErrorDate = time.Unix(w.LastErrorDate, 0).UTC()
	}
	return info, nil
}

// DeleteWebhook removes the bot's webhook; removing an absent one succeeds.
func (c *Client) DeleteWebhook(ctx context.Context, token string, dropPending bool) error {
	params := struct {
		DropPendingUpdates bool `json:"drop_pending_updates,omitempty"`
	}{dropPending}
	return c.call(ctx, token, OpDeleteWebhook, params, nil)
}
