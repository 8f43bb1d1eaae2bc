package webhooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// Webhook health has one owner, and every change of it reaches
// connectionUpdated subscribers: what was received as much as what was
// rejected.
func TestWebhookHealthReachesSubscribers(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := s.hub.Subscribe(ctx, events.Spec{Campaigns: []pulid.ID{conn.CampaignID},
		Types: []events.Type{events.ConnectionUpdated}})
	if err != nil {
		t.Fatal(err)
	}
	// until waits for a connectionUpdated delivery that shows ok.
	until := func(what string, ok func(received, errors int64) bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case d := <-ch:
				if d.Connection != nil && d.Connection.ID == conn.ID && ok(d.Connection.WebhookTotalReceived, d.Connection.WebhookErrorCount) {
					return
				}
			case <-timeout:
				t.Fatalf("no connectionUpdated showing %s", what)
			}
		}
	}
	path := "/webhooks/telegram/" + string(conn.ID)
	if r := s.post(path, map[string]string{telegram.SecretHeader: secret}, update(1, "4242", 1700000000, "hello")); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	until("the event received", func(received, _ int64) bool { return received == 1 })
	if r := s.post(path, map[string]string{telegram.SecretHeader: "forged"}, update(2, "4242", 1700000001, "forged")); r.status != 401 {
		t.Fatalf("forged: status %d", r.status)
	}
	until("the rejection", func(received, errors int64) bool { return received == 1 && errors == 1 })
}
