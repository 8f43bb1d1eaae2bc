package connections

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/vault"
)

// telegramUpdates are the update types our webhook handles.
var telegramUpdates = []string{"message", "edited_message"}

// TelegramInput is connectTelegram's input.
type TelegramInput struct {
	CampaignID  pulid.ID
	BotToken    string
	BotUsername *string
	BotName     *string
}

// ConnectTelegram validates a BotFather token, registers our webhook with a
// fresh secret and stores the bot.
func (s *Service) ConnectTelegram(ctx context.Context, in TelegramInput) (*ent.Connection, error) {
	token := strings.TrimSpace(in.BotToken)
	if err := telegram.ValidToken(token); err != nil {
		return nil, apperr.Input("botToken", "not a bot token (%v); BotFather gives tokens of the form {bot_id}:{secret}", err)
	}
	if _, err := s.requireManager(ctx, in.CampaignID, "campaignID"); err != nil {
		return nil, err
	}
	bot, err := s.p.Telegram.GetMe(ctx, token)
	if err != nil {
		return nil, platformError(err, "botToken", "Invalid bot token: Telegram rejected it")
	}
	externalID := strconv.FormatInt(bot.ID, 10)
	if err := s.checkFree(ctx, schematype.PlatformTelegram, externalID, fmt.Sprintf("Telegram bot @%s", bot.Username)); err != nil {
		return nil, err
	}
	id := pulid.New("con")
	creds := &Credentials{BotToken: token, WebhookSecret: telegram.NewSecretToken()}
	row := newConnection{
		id: id, campaignID: in.CampaignID, platform: schematype.PlatformTelegram, externalID: externalID,
		name: firstNonEmpty(in.BotName, strings.TrimSpace(bot.FirstName+" "+bot.LastName)), username: firstNonEmpty(in.BotUsername, bot.Username),
		creds: creds, tokenHint: vault.Hint(token),
	}
	conns, err := s.create(ctx, []newConnection{row}, func(ctx context.Context) (func(), error) {
		return s.registerTelegram(ctx, id, creds)
	})
	if err != nil {
		return nil, err
	}
	return conns[0], nil
}

// registerTelegram points the bot's webhook at us and confirms Telegram took it.
func (s *Service) registerTelegram(ctx context.Context, id pulid.ID, creds *Credentials) (undo func(), err error) {
	url := s.WebhookURL(schematype.PlatformTelegram, id)
	err = s.p.Telegram.SetWebhook(ctx, creds.BotToken, telegram.WebhookParams{
		URL: url, SecretToken: creds.WebhookSecret, AllowedUpdates: telegramUpdates,
	})
	if err != nil {
		return nil, webhookFailed(platformError(err, "botToken", "Invalid bot token: Telegram rejected it"))
	}
	undo = func() {
		ctx, cancel := undoContext()
		defer cancel()
		if err := s.p.Telegram.DeleteWebhook(ctx, creds.BotToken, false); err != nil {
			s.logger.ErrorContext(ctx, "removing the webhook of a failed telegram connect", "connection", id, "err", err)
		}
	}
	info, err := s.p.Telegram.GetWebhookInfo(ctx, creds.BotToken)
	if err != nil {
		return undo, webhookFailed(platformError(err, "", ""))
	}
	if info.URL != url {
		return undo, apperr.Upstreamf("webhook registration failed: Telegram reports the webhook at %q, not %q", info.URL, url)
	}
	return undo, nil
}

// testTelegram checks the token, the webhook registration and recent delivery errors.
func (s *Service) testTelegram(ctx context.Context, c *ent.Connection, creds *Credentials) ([]Check, error) {
	var checks []Check
	bot, err := s.p.Telegram.GetMe(ctx, creds.BotToken)
	if err != nil {
		return append(checks, failed("token valid", err)), err
	}
	checks = append(checks, Check{Name: "token valid", OK: true, Detail: "bot @" + bot.Username})
	info, err := s.p.Telegram.GetWebhookInfo(ctx, creds.BotToken)
	if err != nil {
		return append(checks, failed("webhook registered", err)), err
	}
	want := s.WebhookURL(schematype.PlatformTelegram, c.ID)
	switch info.URL {
	case want:
		checks = append(checks, Check{Name: "webhook registered", OK: true, Detail: "points at " + want})
	case "":
		checks = append(checks, Check{Name: "webhook registered", OK: false, Detail: "no webhook is set: reconnect to register it"})
	default:
		checks = append(checks, Check{Name: "webhook registered", OK: false, Detail: fmt.Sprintf("points at %s instead of %s: reconnect to fix", info.URL, want)})
	}
	if info.LastErrorMessage != "" {
		checks = append(checks, Check{Name: "webhook delivery", OK: false,
			Detail: fmt.Sprintf("Telegram's last delivery error (%s): %s; %d updates pending", info.LastErrorDate.UTC().Format("2006-01-02 15:04:05 MST"), info.LastErrorMessage, info.PendingUpdateCount)})
	} else {
		checks = append(checks, Check{Name: "webhook delivery", OK: true, Detail: fmt.Sprintf("no delivery errors; %d updates pending", info.PendingUpdateCount)})
	}
	return checks, nil
}

// updateTelegramToken replaces the bot token after checking it is the same bot.
func (s *Service) updateTelegramToken(ctx context.Context, c *ent.Connection, creds *Credentials, token string) error {
	token = strings.TrimSpace(token)
	if err := telegram.ValidToken(token); err != nil {
		return apperr.Input("input.botToken", "not a bot token (%v)", err)
	}
	bot, err := s.p.Telegram.GetMe(ctx, token)
	if err != nil {
		return platformError(err, "input.botToken", "Invalid bot token: Telegram rejected it")
	}
	if strconv.FormatInt(bot.ID, 10) != c.ExternalID {
		return apperr.Input("input.botToken", "this token belongs to bot @%s, not to the connected bot", bot.Username)
	}
	creds.BotToken = token
	_, err = s.registerTelegram(ctx, c.ID, creds)
	return err
}

func webhookFailed(err error) error {
	if e, ok := err.(*apperr.Error); ok && e.Kind == apperr.ErrUpstream {
		return apperr.Upstreamf("webhook registration failed: %s", e.Msg)
	}
	return err
}

func firstNonEmpty(preferred *string, fallback string) string {
	if preferred != nil && strings.TrimSpace(*preferred) != "" {
		return strings.TrimSpace(*preferred)
	}
	return fallback
}
