package telegram_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
)

// Check says when our webhook must be registered again (gone, taken over,
// or delivering other update types), and not otherwise; registering again
// (Reconnect) repairs each.
func TestCheckFindsWhatToRegisterAgain(t *testing.T) {
	t.Parallel()
	current := []string{"message", "edited_message", "callback_query"}
	tests := []struct {
		name  string
		setup func(*telegramtest.Server, *telegram.Client)
		found string // "" when nothing is to be registered
	}{
		{"healthy", nil, ""},
		{"same types in another order", func(s *telegramtest.Server, c *telegram.Client) {
			setHook(t, c, hookURL, []string{"callback_query", "message", "edited_message"})
		}, ""},
		{"webhook gone", func(s *telegramtest.Server, _ *telegram.Client) { s.DropWebhook(botToken) },
			"the webhook was found unregistered on Telegram"},
		{"webhook elsewhere", func(_ *telegramtest.Server, c *telegram.Client) {
			setHook(t, c, "https://other.example/hook", current)
		}, "the webhook was found pointing at https://other.example/hook on Telegram"},
		{"old update types", func(_ *telegramtest.Server, c *telegram.Client) {
			setHook(t, c, hookURL, []string{"message", "edited_message"})
		}, "the webhook was found delivering message, edited_message instead of message, edited_message, callback_query on Telegram"},
		{"default update types", func(_ *telegramtest.Server, c *telegram.Client) {
			setHook(t, c, hookURL, []string{})
		}, "the webhook was found delivering Telegram's default update types instead of message, edited_message, callback_query on Telegram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newFake(t)
			ch := telegram.NewChannel(c)
			acct := platform.Account{ExternalID: "7350172046", WebhookURL: hookURL,
				Credentials: &telegram.Credentials{BotToken: botToken, WebhookSecret: "hook-secret"}}
			if err := ch.Reconnect(context.Background(), acct); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(s, c)
			}
			r, err := ch.Check(context.Background(), acct)
			if err != nil {
				t.Fatal(err)
			}
			if r.Reregister != tt.found {
				t.Fatalf("Reregister = %q, want %q", r.Reregister, tt.found)
			}
			if err := ch.Reconnect(context.Background(), acct); err != nil {
				t.Fatal(err)
			}
			if r, err = ch.Check(context.Background(), acct); err != nil || r.Reregister != "" {
				t.Fatalf("after Reconnect: Reregister = %q, err %v", r.Reregister, err)
			}
			for _, c := range r.Checks {
				if !c.OK {
					t.Errorf("after Reconnect: %+v", c)
				}
			}
		})
	}
}

// A revoked token: the report says the token was rejected, with the line
// that failed, and the error is Auth.
func TestCheckRevokedToken(t *testing.T) {
	t.Parallel()
	s, c := newFake(t)
	s.RevokeBot(botToken)
	r, err := telegram.NewChannel(c).Check(context.Background(), platform.Account{WebhookURL: hookURL, Credentials: &telegram.Credentials{BotToken: botToken}})
	if !platform.IsAuth(err) || r == nil || r.Health.TokenValid == nil || *r.Health.TokenValid {
		t.Fatalf("Check = %+v, %v; want an Auth error and the token rejected", r, err)
	}
	if len(r.Checks) != 1 || r.Checks[0].Name != "token valid" || r.Checks[0].OK || !strings.Contains(r.Checks[0].Detail, "Unauthorized") {
		t.Fatalf("checks = %+v", r.Checks)
	}
	assertNoToken(t, err)
}

func setHook(t *testing.T, c *telegram.Client, url string, updates []string) {
	t.Helper()
	if err := c.SetWebhook(context.Background(), botToken, telegram.WebhookParams{URL: url, SecretToken: "hook-secret", AllowedUpdates: updates}); err != nil {
		t.Fatal(err)
	}
}
