package graph_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
)

// The Integration tab's webhook panel: live statistics, the log, and replay.
func TestWebhookLogAndReplay(t *testing.T) {
	e := newEnv(t)
	c, managerTok := e.manager()
	agent, agentTok := e.user(user.RoleMEMBER)
	e.member(c, agent, campaignmember.RoleAGENT)
	other, otherTok := e.manager()
	conn := e.connection(c, schematype.PlatformTelegram)
	otherConn := e.connection(other, schematype.PlatformTelegram)
	base := time.Now().Add(-time.Minute)
	var ids []string
	for i := range 3 {
		body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":1700000000,"chat":{"id":99,"type":"private","first_name":"Ha"},"text":"log %d"}}`, 700+i, 700+i, i)
		ev := e.db.WebhookEvent.Create().SetPlatform(schematype.PlatformTelegram).SetConnectionID(conn.ID).SetCampaignID(c.ID).
			SetEventType("message").SetDedupKey(fmt.Sprintf("update:%d", 700+i)).SetPayload([]byte(body)).
			SetReceivedAt(base.Add(time.Duration(i) * time.Second)).SaveX(sys())
		ids = append(ids, string(ev.ID))
	}
	e.db.WebhookEvent.Create().SetPlatform(schematype.PlatformTelegram).SetConnectionID(otherConn.ID).SetCampaignID(other.ID).
		SetEventType("message").SetDedupKey("update:1").SetPayload([]byte(`{}`)).ExecX(sys())

	const log = `query($c: ID!) { webhookEvents(connectionID: $c, first: 2) { totalCount
		edges { node { id eventType payload responseStatus error attempts receivedAt processedAt } } } }`
	d := e.as(agentTok, log, map[string]any{"c": string(conn.ID)})
	edges := dig(d, "webhookEvents.edges").([]any)
	if dig(d, "webhookEvents.totalCount") != 3.0 || len(edges) != 2 || dig(edges[0], "node.id") != ids[2] ||
		!strings.Contains(dig(edges[0], "node.payload").(string), `"log 2"`) || dig(edges[0], "node.responseStatus") != 200.0 {
		t.Fatalf("log = %v", d)
	}
	if d := e.as(otherTok, log, map[string]any{"c": string(conn.ID)}); dig(d, "webhookEvents.totalCount") != 0.0 {
		t.Fatalf("another campaign's manager sees the log: %v", d)
	}

	const replay = `mutation($id: ID!) { replayWebhookEvent(id: $id) { id processedAt attempts error } }`
	if r := e.do("Bearer "+agentTok, replay, map[string]any{"id": ids[0]}); r.code() != "FORBIDDEN" {
		t.Fatalf("agent replaying: %+v", r.Errors)
	}
	if r := e.do("Bearer "+otherTok, replay, map[string]any{"id": ids[0]}); r.code() != "NOT_FOUND" {
		t.Fatalf("stranger replaying: %+v", r.Errors)
	}
	for range 2 {
		d = e.as(managerTok, replay, map[string]any{"id": ids[0]})
		if dig(d, "replayWebhookEvent.processedAt") == nil || dig(d, "replayWebhookEvent.error") != "" {
			t.Fatalf("replay = %v", d)
		}
	}
	if n := conn.QueryConversations().QueryMessages().CountX(sys()); n != 1 {
		t.Fatalf("two replays stored %d messages, want 1", n)
	}

	// Live statistics; an error after the last success turns the status to ERROR.
	now := time.Now()
	e.db.Connection.UpdateOne(conn).SetWebhookTotalReceived(42).SetWebhookLastReceivedAt(now.Add(-time.Minute)).
		SetWebhookErrorCount(3).SetWebhookLastError("rejected a webhook (401): missing or wrong secret token").SetWebhookLastErrorAt(now).ExecX(sys())
	d = e.as(agentTok, `query($id: ID!) { node(id: $id) { ... on Connection { webhook { status totalReceived errorCount lastError lastReceivedAt } } } }`,
		map[string]any{"id": string(conn.ID)})
	if dig(d, "node.webhook.status") != "ERROR" || dig(d, "node.webhook.totalReceived") != 42.0 || dig(d, "node.webhook.errorCount") != 3.0 ||
		!strings.Contains(dig(d, "node.webhook.lastError").(string), "401") || dig(d, "node.webhook.lastReceivedAt") == nil {
		t.Fatalf("webhook = %v", d)
	}
}

// A stuck or slow queue is visible on the connection: how many events wait,
// and since when; failed events are out of the queue and found by filter.
func TestWebhookBacklog(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	conn := e.connection(c, schematype.PlatformTelegram)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var pending []string
	for i := range 3 {
		body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":1700000000,"chat":{"id":98,"type":"private","first_name":"Ha"},"text":"wait %d"}}`, 800+i, 800+i, i)
		ev := e.db.WebhookEvent.Create().SetPlatform(schematype.PlatformTelegram).SetConnectionID(conn.ID).SetCampaignID(c.ID).
			SetEventType("message").SetDedupKey(fmt.Sprintf("update:%d", 800+i)).SetPayload([]byte(body)).
			SetReceivedAt(base.Add(time.Duration(i) * time.Minute)).SaveX(sys())
		pending = append(pending, string(ev.ID))
	}
	// Neither a processed nor a failed event is pending.
	e.db.WebhookEvent.Create().SetPlatform(schematype.PlatformTelegram).SetConnectionID(conn.ID).SetCampaignID(c.ID).
		SetEventType("message").SetDedupKey("update:1").SetPayload([]byte(`{}`)).SetReceivedAt(base.Add(-time.Hour)).
		SetProcessedAt(base).ExecX(sys())
	failed := e.db.WebhookEvent.Create().SetPlatform(schematype.PlatformTelegram).SetConnectionID(conn.ID).SetCampaignID(c.ID).
		SetEventType("message").SetDedupKey("update:2").SetPayload([]byte(`{}`)).SetReceivedAt(base.Add(-time.Hour)).
		SetFailedAt(base).SetError("decoding TELEGRAM message: no chat").SetAttempts(1).SaveX(sys())

	const q = `query($id: ID!) { node(id: $id) { ... on Connection { webhook { pending oldestPendingAt } } } }`
	backlog := func() (float64, any) {
		d := e.as(tok, q, map[string]any{"id": string(conn.ID)})
		return dig(d, "node.webhook.pending").(float64), dig(d, "node.webhook.oldestPendingAt")
	}
	if n, oldest := backlog(); n != 3 || oldest != base.UTC().Format(time.RFC3339Nano) {
		t.Fatalf("pending %v since %v, want 3 since %v", n, oldest, base.UTC().Format(time.RFC3339Nano))
	}
	e.as(tok, `mutation($id: ID!) { replayWebhookEvent(id: $id) { id } }`, map[string]any{"id": pending[0]})
	if n, oldest := backlog(); n != 2 || oldest != base.Add(time.Minute).UTC().Format(time.RFC3339Nano) {
		t.Fatalf("after processing the oldest: pending %v since %v", n, oldest)
	}

	d := e.as(tok, `query($c: ID!) { webhookEvents(connectionID: $c, first: 10, where: {failedAtNotNil: true}) {
		totalCount edges { node { id error attempts failedAt processedAt } } } }`, map[string]any{"c": string(conn.ID)})
	if dig(d, "webhookEvents.totalCount") != 1.0 || dig(d, "webhookEvents.edges").([]any)[0].(map[string]any)["node"].(map[string]any)["id"] != string(failed.ID) {
		t.Fatalf("failed events = %v", d)
	}

	// Nothing waiting: no oldest.
	for _, id := range pending[1:] {
		e.as(tok, `mutation($id: ID!) { replayWebhookEvent(id: $id) { id } }`, map[string]any{"id": id})
	}
	if n, oldest := backlog(); n != 0 || oldest != nil {
		t.Fatalf("drained: pending %v since %v", n, oldest)
	}
}

// The SPA's log shows "all", "errors only" and "pending"; a manager clears
// the queue, an agent may not.
func TestWebhookLogFiltersAndClearQueue(t *testing.T) {
	e := newEnv(t)
	c, managerTok := e.manager()
	agent, agentTok := e.user(user.RoleMEMBER)
	e.member(c, agent, campaignmember.RoleAGENT)
	conn := e.connection(c, schematype.PlatformTelegram)
	now := time.Now()
	add := func(key string, status int, processed bool) string {
		b := e.db.WebhookEvent.Create().SetPlatform(schematype.PlatformTelegram).SetConnectionID(conn.ID).SetCampaignID(c.ID).
			SetEventType("message").SetDedupKey(key).SetPayload([]byte(`{}`)).SetReceivedAt(now.Add(-time.Minute)).SetResponseStatus(status)
		if processed {
			b.SetProcessedAt(now)
		}
		if status != 200 {
			b.SetEventType("rejected").SetError("missing or wrong secret token").SetRepeats(41)
		}
		return string(b.SaveX(sys()).ID)
	}
	add("update:1", 200, true)
	pending := add("update:2", 200, false)
	forged := add("rejected:401:1", 401, true)

	const q = `query($c: ID!, $w: WebhookEventWhereInput) { webhookEvents(connectionID: $c, first: 10, where: $w) {
		totalCount edges { node { id responseStatus repeats skippedAt } } } }`
	ids := func(where map[string]any) []string {
		d := e.as(agentTok, q, map[string]any{"c": string(conn.ID), "w": where})
		var out []string
		for _, edge := range dig(d, "webhookEvents.edges").([]any) {
			out = append(out, dig(edge, "node.id").(string))
		}
		return out
	}
	if got := ids(map[string]any{"responseStatusNEQ": 200}); len(got) != 1 || got[0] != forged {
		t.Errorf("errors only = %v, want [%s]", got, forged)
	}
	if got := ids(map[string]any{"processed": false}); len(got) != 1 || got[0] != pending {
		t.Errorf("pending = %v, want [%s]", got, pending)
	}
	if got := ids(nil); len(got) != 3 {
		t.Errorf("all = %v", got)
	}

	const clear = `mutation($c: ID!) { skipWebhookEvents(connectionID: $c) }`
	if r := e.do("Bearer "+agentTok, clear, map[string]any{"c": string(conn.ID)}); r.code() != "FORBIDDEN" {
		t.Fatalf("agent clearing the queue: %+v", r.Errors)
	}
	if d := e.as(managerTok, clear, map[string]any{"c": string(conn.ID)}); dig(d, "skipWebhookEvents") != 1.0 {
		t.Fatalf("clearing = %v", d)
	}
	if got := ids(map[string]any{"skippedAtNotNil": true}); len(got) != 1 || got[0] != pending {
		t.Errorf("skipped = %v, want [%s]", got, pending)
	}
}
