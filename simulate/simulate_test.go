package simulate_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/simulate"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The simulator's webhooks pass each platform's signature check and become
// conversations, as the platform's own would.
func TestSimulatedWebhooksBecomeConversations(t *testing.T) {
	s := testapp.Start(t, testapp.Options{Env: map[string]string{
		"INGEST_WORKERS": "1", "FACEBOOK_APP_ID": "fb-app", "FACEBOOK_APP_SECRET": "fb-secret-sim",
		"ZALO_APP_ID": "360846524940903967", "ZALO_APP_SECRET": "zalo-app-secret"}})
	tg, _, _ := s.TelegramBot()
	fb, _ := s.FacebookPage()
	wa, _ := s.WhatsAppNumber()
	zc := s.ZaloOA("oa-secret-sim")
	d := simulate.Deps{Client: s.Client, Accounts: s.Connections.Account, HTTP: s.HC,
		WebhookURL: func(c *ent.Connection) string { return s.Connections.WebhookURL(c.Platform, c.ID) }}
	ctx := context.Background()
	var out bytes.Buffer
	for _, c := range []struct {
		conn *ent.Connection
		name string
		n    int
	}{{tg, "telegram", 3}, {fb, "facebook", 1}, {wa, "whatsapp", 1}, {zc, "zalo", 1}} {
		opt := simulate.Options{Platform: c.name, ConnectionID: string(c.conn.ID), Text: "xin chào from " + c.name,
			From: "Lan", Count: c.n, Rate: 100, URL: s.URL}
		if err := simulate.Run(ctx, d, opt, &out); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out.String())
		}
		testkit.Eventually(t, c.name+" messages stored", func() bool {
			return s.Client.Message.Query().Where(message.ConnectionID(c.conn.ID), message.Text(opt.Text)).CountX(testkit.Sys()) == c.n
		})
		if c.name == "facebook" || c.name == "zalo" {
			continue // their webhooks carry no names: Switchboard asks their profile APIs
		}
		ct := s.Client.Contact.Query().AllX(testkit.Sys())
		found := false
		for _, x := range ct {
			found = found || x.CampaignID == c.conn.CampaignID && x.Name == "Lan"
		}
		if !found {
			t.Errorf("%s: no contact named Lan", c.name)
		}
	}
	// What a platform does not send is refused before anything is posted.
	err := simulate.Run(ctx, d, simulate.Options{Platform: "telegram", ConnectionID: string(tg.ID), Receipt: "read", Message: "1", Count: 1, Rate: 1, URL: s.URL}, &out)
	if !errors.Is(err, platform.ErrNotSimulated) {
		t.Fatalf("a Telegram receipt: %v", err)
	}
	if err := simulate.Run(ctx, d, simulate.Options{Platform: "zalo", ConnectionID: string(tg.ID), Count: 1, Rate: 1}, &out); err == nil {
		t.Fatal("a Telegram connection simulated as Zalo")
	}
}
