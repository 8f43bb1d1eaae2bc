package telegramfake

import (
	"context"
	"testing"

	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// The server's own Bot API client reads every answer the fake gives.
func TestServerClientReadsTheFake(t *testing.T) {
	f := New()
	url, stop, err := f.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	c := telegram.New(url, nil)
	token := Token(123456)
	if err := telegram.ValidToken(token); err != nil {
		t.Fatalf("Token: %v", err)
	}
	me, err := c.GetMe(ctx, token)
	if err != nil || me.ID != 123456 || me.Username == "" {
		t.Fatalf("getMe = %+v, %v", me, err)
	}
	hook := "http://127.0.0.1:1/webhooks/telegram/con_1"
	if err := c.SetWebhook(ctx, token, telegram.WebhookParams{URL: hook, SecretToken: "s3cret", AllowedUpdates: []string{"message"}}); err != nil {
		t.Fatal(err)
	}
	if f.Secret(token) != "s3cret" || f.WebhookURL(token) != hook {
		t.Fatalf("recorded secret %q, url %q", f.Secret(token), f.WebhookURL(token))
	}
	info, err := c.GetWebhookInfo(ctx, token)
	if err != nil || info.URL != hook || len(info.AllowedUpdates) != 1 {
		t.Fatalf("getWebhookInfo = %+v, %v", info, err)
	}
	if cmds, err := c.GetMyCommands(ctx, token); err != nil || len(cmds) != 0 {
		t.Fatalf("getMyCommands = %v, %v", cmds, err)
	}
	delivered := f.Await("hi")
	m, err := c.SendMessage(ctx, token, "9007199254740993", "hi")
	if err != nil || m.ChatID != "9007199254740993" || m.MessageID != "1" {
		t.Fatalf("sendMessage = %+v, %v", m, err)
	}
	select {
	case <-delivered:
	default:
		t.Fatal("Await's channel is still open after the send")
	}
	if n, _ := f.Sent(); n != 1 {
		t.Fatalf("Sent = %d", n)
	}
	if err := c.DeleteWebhook(ctx, token, false); err != nil || f.Secret(token) != "" {
		t.Fatalf("deleteWebhook: %v, secret %q", err, f.Secret(token))
	}
	if _, err := c.GetMe(ctx, "12:short"); err == nil {
		t.Fatal("a malformed token was taken")
	}
}
