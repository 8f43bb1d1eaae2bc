package telegram

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/platform"
)

// Channel is Telegram for Switchboard: bots connected with a BotFather
// token, webhooks set per bot with a secret token.
type Channel struct {
	api *Client
}

// NewChannel returns the Telegram channel over an API client.
func NewChannel(api *Client) *Channel { return &Channel{api: api} }

var (
	_ platform.Channel = (*Channel)(nil)
	_ platform.Sender  = (*Channel)(nil)
)

// Credentials are a bot's secrets. The JSON names are the stored format.
type Credentials struct {
	BotToken      string `json:"botToken,omitempty"`
	WebhookSecret string `json:"webhookSecret,omitempty"`
}

// Token is the bot token.
func (c *Credentials) Token() string { return c.BotToken }

// WebhookKey is the setWebhook secret_token.
func (c *Credentials) WebhookKey() string { return c.WebhookSecret }

func creds(a platform.Account) *Credentials { return a.Credentials.(*Credentials) }

// ConnectInput is connectTelegram's input.
type ConnectInput struct {
	CampaignID  pulid.ID
	BotToken    string
	BotUsername *string
	BotName     *string
}

// Platform is Telegram.
func (ConnectInput) Platform() schematype.Platform { return schematype.PlatformTelegram }

// Campaign is the campaign to connect the bot to.
func (in ConnectInput) Campaign() pulid.ID { return in.CampaignID }

// updates are the update types our webhook handles; Telegram delivers
// only what the webhook's allowed_updates lists. Check compares the list
// Telegram holds with this one, so a bot registered before a type was added
// here is found and registered again.
var updates = []string{"message", "edited_message", "callback_query"}

// Platform is Telegram.
func (*Channel) Platform() schematype.Platform { return schematype.PlatformTelegram }

// Title is "Telegram".
func (*Channel) Title() string { return "Telegram" }

// NewCredentials returns empty bot credentials.
func (*Channel) NewCredentials() platform.Credentials { return &Credentials{} }

// WebhookPath names the connection: Telegram posts each bot's updates to its own URL.
func (*Channel) WebhookPath(id pulid.ID) string { return "/webhooks/telegram/" + string(id) }

// Verify checks the secret token Telegram sends with every update.
func (*Channel) Verify(h http.Header, body []byte, secret string) error {
	return Verify(h, body, secret)
}

// Split cuts the body into its one update.
func (*Channel) Split(body []byte) ([]inbound.Fragment, error) { return Split(body) }

// Decode decodes a journaled update.
func (*Channel) Decode(raw []byte) (*inbound.Event, error) { return Decode(raw) }

// Ack is empty: Telegram only reads the status.
func (*Channel) Ack() string { return "" }

// TestEvent is a synthetic update with the bot's secret token.
func (*Channel) TestEvent(acct platform.Account, nonce string) ([]byte, http.Header) {
	return TestEvent(nonce), http.Header{"Content-Type": {"application/json"}, SecretHeader: {creds(acct).WebhookSecret}}
}

const rejected = "Invalid bot token: Telegram rejected it"

// Connect validates the token with getMe; registering sets our webhook with
// a fresh secret and confirms it with getWebhookInfo.
func (ch *Channel) Connect(ctx context.Context, in platform.ConnectInput) (*platform.Plan, error) {
	input := in.(ConnectInput)
	token := strings.TrimSpace(input.BotToken)
	if err := ValidToken(token); err != nil {
		return nil, apperr.Input("botToken", "not a bot token (%v); BotFather gives tokens of the form {bot_id}:{secret}", err)
	}
	bot, err := ch.api.GetMe(ctx, token)
	if err != nil {
		return nil, platform.UserError(err, "botToken", rejected)
	}
	c := &Credentials{BotToken: token, WebhookSecret: NewSecretToken()}
	return &platform.Plan{
		Accounts: []platform.NewAccount{{
			ExternalID: strconv.FormatInt(bot.ID, 10), Credentials: c, Title: "Telegram bot @" + bot.Username,
			Name:     platform.Or(input.BotName, strings.TrimSpace(bot.FirstName+" "+bot.LastName)),
			Username: platform.Or(input.BotUsername, bot.Username),
		}},
		Register: func(ctx context.Context, accts []platform.Account) (platform.Undo, error) {
			return ch.register(ctx, accts[0])
		},
	}, nil
}

// register points the bot's webhook at us and confirms Telegram took it.
func (ch *Channel) register(ctx context.Context, acct platform.Account) (undo platform.Undo, err error) {
	c := creds(acct)
	err = ch.api.SetWebhook(ctx, c.BotToken, WebhookParams{URL: acct.WebhookURL, SecretToken: c.WebhookSecret, AllowedUpdates: updates})
	if err != nil {
		return nil, platform.WebhookFailed(platform.UserError(err, "botToken", rejected))
	}
	undo = func() error {
		ctx, cancel := platform.UndoContext()
		defer cancel()
		return ch.api.DeleteWebhook(ctx, c.BotToken, false)
	}
	info, err := ch.api.GetWebhookInfo(ctx, c.BotToken)
	if err != nil {
		return undo, platform.WebhookFailed(platform.UserError(err, "", ""))
	}
	if info.URL != acct.WebhookURL {
		return undo, apperr.Upstreamf("webhook registration failed: Telegram reports the webhook at %q, not %q", info.URL, acct.WebhookURL)
	}
	if !sameUpdates(info.AllowedUpdates, updates) {
		return undo, apperr.Upstreamf("webhook registration failed: Telegram delivers %s, not %s", describeUpdates(info.AllowedUpdates), describeUpdates(updates))
	}
	return undo, nil
}

// Check asks Telegram about the bot: the token and its privacy mode
// (getMe), our webhook, the update types it delivers, its delivery errors
// and backlog (getWebhookInfo), and the bot's commands (getMyCommands).
func (ch *Channel) Check(ctx context.Context, acct platform.Account) (*platform.Report, error) {
	c := creds(acct)
	r := &platform.Report{}
	h := &r.Health
	bot, err := ch.api.GetMe(ctx, c.BotToken)
	h.TokenValid = platform.TokenVerdict(err)
	if err != nil {
		return r.Fail("token valid", err)
	}
	r.Add(platform.Check{Name: "token valid", OK: true, Detail: "bot @" + bot.Username})
	h.CanReadAllGroupMessages = platform.Verdict(bot.CanReadAllGroupMessages)
	privacy := platform.Check{Name: "group messages", OK: true,
		Detail: "privacy mode is on: in groups the bot sees only commands, replies to it and mentions (BotFather's /setprivacy turns it off)"}
	if bot.CanReadAllGroupMessages {
		privacy.Detail = "privacy mode is off: the bot sees every message in its groups"
	}
	r.Add(privacy)

	info, err := ch.api.GetWebhookInfo(ctx, c.BotToken)
	if err != nil {
		return r.Fail("webhook registered", err)
	}
	want := acct.WebhookURL
	h.WebhookURL = info.URL
	h.WebhookRegistered = platform.Verdict(info.URL == want)
	h.PendingUpdates = &info.PendingUpdateCount
	if info.LastErrorMessage != "" {
		h.PlatformError = info.LastErrorMessage
		if !info.LastErrorDate.IsZero() {
			at := info.LastErrorDate
			h.PlatformErrorAt = &at
		}
	}
	switch info.URL {
	case want:
		r.Add(platform.Check{Name: "webhook registered", OK: true, Detail: "points at " + want})
		if !sameUpdates(info.AllowedUpdates, updates) {
			r.Add(platform.Check{Name: "update types", OK: false,
				Detail: fmt.Sprintf("Telegram delivers %s instead of %s: reconnect to fix", describeUpdates(info.AllowedUpdates), describeUpdates(updates))})
			r.Reregister = fmt.Sprintf("the webhook was found delivering %s instead of %s on Telegram", describeUpdates(info.AllowedUpdates), describeUpdates(updates))
		} else {
			r.Add(platform.Check{Name: "update types", OK: true, Detail: describeUpdates(updates)})
		}
	case "":
		r.Add(platform.Check{Name: "webhook registered", OK: false, Detail: "no webhook is set: reconnect to register it"})
		r.Reregister = "the webhook was found unregistered on Telegram"
	default:
		// Another service set the bot's webhook (or another deployment
		// with the same bot). The bot is connected here, so ours is put
		// back; statusReason names the URL for whoever wonders why theirs
		// stopped.
		r.Add(platform.Check{Name: "webhook registered", OK: false, Detail: fmt.Sprintf("points at %s instead of %s: reconnect to fix", info.URL, want)})
		r.Reregister = fmt.Sprintf("the webhook was found pointing at %s on Telegram", info.URL)
	}
	if info.LastErrorMessage != "" {
		r.Add(platform.Check{Name: "webhook delivery", OK: false,
			Detail: fmt.Sprintf("Telegram's last delivery error (%s): %s; %d updates pending", info.LastErrorDate.UTC().Format("2006-01-02 15:04:05 MST"), info.LastErrorMessage, info.PendingUpdateCount)})
	} else {
		r.Add(platform.Check{Name: "webhook delivery", OK: true, Detail: fmt.Sprintf("no delivery errors; %d updates pending", info.PendingUpdateCount)})
	}

	cmds, err := ch.api.GetMyCommands(ctx, c.BotToken)
	if err != nil {
		return r.Fail("bot commands", err)
	}
	h.Commands = make([]string, len(cmds))
	for i, cmd := range cmds {
		h.Commands[i] = "/" + cmd.Command
	}
	detail := "none set (BotFather's /setcommands sets them)"
	if len(cmds) > 0 {
		detail = strings.Join(h.Commands, ", ")
	}
	r.Add(platform.Check{Name: "bot commands", OK: true, Detail: detail})
	return r, nil
}

// sameUpdates reports whether Telegram's allowed_updates (nil: its default
// set) is the list we register, in any order.
func sameUpdates(have, want []string) bool {
	if have == nil || len(have) != len(want) {
		return false
	}
	for _, u := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, u) }) {
			return false
		}
	}
	return true
}

func describeUpdates(list []string) string {
	if list == nil {
		return "Telegram's default update types"
	}
	return strings.Join(list, ", ")
}

// Reconnect checks the token and sets the webhook again.
func (ch *Channel) Reconnect(ctx context.Context, acct platform.Account) error {
	if _, err := ch.api.GetMe(ctx, creds(acct).BotToken); err != nil {
		return err
	}
	_, err := ch.register(ctx, acct)
	return err
}

// Unregister deletes the bot's webhook.
func (ch *Channel) Unregister(ctx context.Context, acct platform.Account) error {
	return ch.api.DeleteWebhook(ctx, creds(acct).BotToken, false)
}

// Update replaces the bot token after checking it is the same bot, and
// sets the webhook with it.
func (ch *Channel) Update(ctx context.Context, acct platform.Account, in platform.CredentialsUpdate) (platform.Credentials, *time.Time, error) {
	if err := in.Only(schematype.PlatformTelegram, "botToken"); err != nil {
		return nil, nil, err
	}
	token := strings.TrimSpace(*in.BotToken)
	if err := ValidToken(token); err != nil {
		return nil, nil, apperr.Input("input.botToken", "not a bot token (%v)", err)
	}
	bot, err := ch.api.GetMe(ctx, token)
	if err != nil {
		return nil, nil, platform.UserError(err, "input.botToken", rejected)
	}
	if strconv.FormatInt(bot.ID, 10) != acct.ExternalID {
		return nil, nil, apperr.Input("input.botToken", "this token belongs to bot @%s, not to the connected bot", bot.Username)
	}
	c := *creds(acct)
	c.BotToken = token
	acct.Credentials = &c
	if _, err := ch.register(ctx, acct); err != nil {
		return nil, nil, err
	}
	return &c, nil, nil
}

// Text and caption limits of the Bot API, in characters.
const (
	maxText    = 4096
	maxCaption = 1024
)

// Limits: text up to 4096 characters; any attachment kind; bots may answer
// a chat at any time.
func (*Channel) Limits() platform.Limits {
	return platform.Limits{Text: maxText, Kinds: []platform.MediaKind{platform.Image, platform.File, platform.Audio, platform.Video}}
}

// Send sends m to the chat m.To. Text up to 1024 characters travels as the
// attachment's caption; longer text follows it as a message of its own.
func (ch *Channel) Send(ctx context.Context, acct platform.Account, m platform.Outbound) (platform.Sent, error) {
	token := creds(acct).BotToken
	pieces := platform.Pieces(m, maxCaption)
	var sent platform.Sent
	for _, p := range pieces[min(max(m.Done, 0), len(pieces)):] {
		var msg *Message
		var err error
		if p.Media == nil {
			msg, err = ch.api.SendMessage(ctx, token, p.To, p.Text)
		} else {
			msg, err = ch.api.SendMedia(ctx, token, p.To, *p.Media, p.Text)
		}
		if err != nil {
			return sent, err
		}
		sent.IDs = append(sent.IDs, msg.ExternalID())
	}
	return sent, nil
}
