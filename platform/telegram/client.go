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

// The Bot API methods this package calls, as they appear in errors' Op.
const (
	OpGetMe          = "getMe"
	OpSetWebhook     = "setWebhook"
	OpGetWebhookInfo = "getWebhookInfo"
	OpDeleteWebhook  = "deleteWebhook"
	OpGetMyCommands  = "getMyCommands"
)

// User is a Telegram user or bot. IDs need 52 bits, hence int64.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	// CanReadAllGroupMessages is only in getMe's answer: true when the
	// bot's privacy mode is off and it sees every message of its groups,
	// not only commands, replies to it and mentions.
	CanReadAllGroupMessages bool `json:"can_read_all_group_messages,omitempty"`
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

// BotCommand is one of the commands a bot lists in its clients' menu.
type BotCommand struct {
	Command     string `json:"command"` // without the leading '/'
	Description string `json:"description"`
}

// GetMyCommands returns the bot's commands for the default scope and every
// language: the menu most users see.
func (c *Client) GetMyCommands(ctx context.Context, token string) ([]BotCommand, error) {
	var cmds []BotCommand
	if err := c.call(ctx, token, OpGetMyCommands, nil, &cmds); err != nil {
		return nil, err
	}
	return cmds, nil
}

// DeleteWebhook removes the bot's webhook; removing an absent one succeeds.
func (c *Client) DeleteWebhook(ctx context.Context, token string, dropPending bool) error {
	params := struct {
		DropPendingUpdates bool `json:"drop_pending_updates,omitempty"`
	}{dropPending}
	return c.call(ctx, token, OpDeleteWebhook, params, nil)
}

// The Bot API methods that send, as they appear in errors' Op.
const (
	OpSendMessage  = "sendMessage"
	OpSendPhoto    = "sendPhoto"
	OpSendDocument = "sendDocument"
	OpSendAudio    = "sendAudio"
	OpSendVideo    = "sendVideo"
)

// mediaMethods are the method and its file parameter per attachment kind.
var mediaMethods = map[platform.MediaKind]struct{ method, param string }{
	platform.Image: {OpSendPhoto, "photo"},
	platform.File:  {OpSendDocument, "document"},
	platform.Audio: {OpSendAudio, "audio"},
	platform.Video: {OpSendVideo, "video"},
}

// Message is a message the bot sent, as Telegram numbered it. The ids are
// the decimal text Telegram wrote, since chat ids exceed what float64
// holds exactly.
type Message struct {
	ChatID    string
	MessageID string
	Date      time.Time
}

// ExternalID is the id the webhook decoder gives the same message, so a
// sent message and its echoes, receipts or edits are one message.
func (m *Message) ExternalID() string { return externalID(m.ChatID, m.MessageID) }

// chatID marshals as a JSON integer when it is one, so an id above 2^53
// reaches Telegram digit for digit, and as a string otherwise (an
// @channelusername, which the Bot API also takes).
type chatID string

func (c chatID) MarshalJSON() ([]byte, error) {
	if _, err := integer(json.RawMessage(c)); err == nil {
		return []byte(c), nil
	}
	return json.Marshal(string(c))
}

// sentWire is the part of the Message a send returns that identifies it.
type sentWire struct {
	MessageID json.RawMessage `json:"message_id"`
	Date      int64           `json:"date"`
	Chat      struct {
		ID json.RawMessage `json:"id"`
	} `json:"chat"`
}

// SendMessage sends text to the chat. Its errors are classified for a send
// (see sendKind).
func (c *Client) SendMessage(ctx context.Context, token, chat, text string) (*Message, error) {
	params := struct {
		ChatID chatID `json:"chat_id"`
		Text   string `json:"text"`
	}{chatID(chat), text}
	return c.send(ctx, token, OpSendMessage, params)
}

// SendMedia sends the file at media.URL, which Telegram downloads itself,
// to the chat with caption ("" for none) under it.
func (c *Client) SendMedia(ctx context.Context, token, chat string, media platform.Media, caption string) (*Message, error) {
	mm, ok := mediaMethods[media.Kind]
	if !ok {
		return nil, &platform.Error{Platform: platformName, Op: "send", Kind: platform.Permanent, Message: "Telegram cannot send attachments of kind " + string(media.Kind)}
	}
	params := map[string]any{"chat_id": chatID(chat), mm.param: media.URL}
	if caption != "" {
		params["caption"] = caption
	}
	return c.send(ctx, token, mm.method, params)
}

func (c *Client) send(ctx context.Context, token, method string, params any) (*Message, error) {
	var w sentWire
	if err := c.call(ctx, token, method, params, &w); err != nil {
		return nil, platform.Reclassify(err, sendKind)
	}
	chat, err := integer(w.Chat.ID)
	if err == nil {
		var id string
		if id, err = integer(w.MessageID); err == nil {
			return &Message{ChatID: chat, MessageID: id, Date: time.Unix(w.Date, 0).UTC()}, nil
		}
	}
	// Telegram took the message but the answer does not say which it is;
	// sending again would deliver it twice, so this is not retried.
	return nil, &platform.Error{Platform: platformName, Op: method, Kind: platform.Permanent, Status: http.StatusOK, Message: "unexpected result: " + err.Error()}
}

// sendKind is what a failed send means. A 403 is the chat refusing the bot
// ("Forbidden: bot was blocked by the user", "bot was kicked", "user is
// deactivated"): the token is fine, only this chat is closed, whereas a dead
// token is 401. Everything else keeps its classification.
func sendKind(e *platform.Error) platform.Kind {
	if e.Code == http.StatusForbidden || (e.Code == 0 && e.Status == http.StatusForbidden) {
		return platform.Permanent
	}
	return e.Kind
}
