package webhooks_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// tell posts an update to a Telegram connection, which must acknowledge it.
func (s *stack) tell(conn *ent.Connection, secret string, update []byte) {
	s.t.Helper()
	if r := s.post("/webhooks/telegram/"+string(conn.ID), map[string]string{telegram.SecretHeader: secret}, update); r.status != 200 {
		s.t.Fatalf("status %d %s", r.status, r.body)
	}
}

// say posts a customer's message to a Telegram connection and waits until it is applied.
func (s *stack) say(conn *ent.Connection, secret string, update []byte) {
	s.t.Helper()
	s.tell(conn, secret, update)
	testkit.Eventually(s.t, "the message is applied", func() bool { return s.pending(conn) == 0 })
}

func (s *stack) conversations(conn *ent.Connection) []*ent.Conversation {
	return s.db.Conversation.Query().Where(conversation.ConnectionID(conn.ID)).AllX(sys())
}

// Connecting again an account the campaign had disconnected continues its
// history: the same connection, the same conversation, the new message
// appended. Connected to another campaign, the account starts fresh there
// and the old campaign keeps its history.
func TestReconnectContinuesHistory(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, token, secret := s.TelegramBot()
	s.say(conn, secret, update(1, "4242", 1700000001, "before"))
	before := s.conversations(conn)
	if len(before) != 1 {
		t.Fatalf("%d conversations", len(before))
	}
	if _, err := s.conns.Disconnect(s.admin, conn.ID); err != nil {
		t.Fatal(err)
	}

	again, err := s.conns.Connect(s.admin, telegram.ConnectInput{CampaignID: conn.CampaignID, BotToken: token})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].ID != conn.ID || again[0].Status != connection.StatusACTIVE || again[0].DisconnectedAt != nil || again[0].Name != conn.Name {
		t.Fatalf("reconnected as %s (%s, disconnected %v, %q), want %s revived", again[0].ID, again[0].Status, again[0].DisconnectedAt, again[0].Name, conn.ID)
	}
	if n := s.db.Connection.Query().Where(connection.CampaignID(conn.CampaignID)).CountX(sys()); n != 1 {
		t.Fatalf("the campaign has %d connections, want the one revived", n)
	}
	secret = s.TG.Webhook(token).SecretToken
	s.say(conn, secret, update(2, "4242", 1700000002, "after"))
	after := s.conversations(conn)
	if len(after) != 1 || after[0].ID != before[0].ID {
		t.Fatalf("conversations after the reconnect: %v, want only %s", after, before[0].ID)
	}
	if got := texts(s.messages(conn)); strings.Join(got, ",") != "before,after" {
		t.Fatalf("messages = %v", got)
	}

	// Another campaign: a new connection, a new conversation.
	if _, err := s.conns.Disconnect(s.admin, conn.ID); err != nil {
		t.Fatal(err)
	}
	elsewhere, err := s.conns.Connect(s.admin, telegram.ConnectInput{CampaignID: s.Campaign().ID, BotToken: token})
	if err != nil {
		t.Fatal(err)
	}
	fresh := elsewhere[0]
	if fresh.ID == conn.ID {
		t.Fatal("another campaign revived the old campaign's connection")
	}
	s.say(fresh, s.TG.Webhook(token).SecretToken, update(3, "4242", 1700000003, "elsewhere"))
	if cs := s.conversations(fresh); len(cs) != 1 || cs[0].ID == before[0].ID || cs[0].CampaignID != fresh.CampaignID {
		t.Fatalf("conversations of the new campaign's connection: %v", cs)
	}
	if got := texts(s.messages(conn)); len(got) != 2 {
		t.Fatalf("the old campaign's history changed: %v", got)
	}
}

// switchConnectionAccount moves a connection to another bot, all or
// nothing: a refused token, an account connected elsewhere or a failed
// registration leave it on the old bot, still delivering.
func TestSwitchConnectionAccount(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, oldToken, oldSecret := s.TelegramBot()
	s.say(conn, oldSecret, update(1, "4242", 1700000001, "to the old bot"))
	newID := testkit.Digits("5")
	newToken := newID + ":AAH-switchTest_" + strings.Repeat("s", 30)
	n, _ := strconv.ParseInt(newID, 10, 64)
	s.TG.AddBot(newToken, telegram.User{ID: n, IsBot: true, FirstName: "New", Username: "new_bot"})
	_, takenToken, _ := s.TelegramBot()
	str := func(v string) *string { return &v }

	unchanged := func(what string) {
		t.Helper()
		c := s.db.Connection.GetX(sys(), conn.ID)
		if c.ExternalID != conn.ExternalID || c.Status != connection.StatusACTIVE || s.TG.Webhook(oldToken).SecretToken != oldSecret {
			t.Fatalf("after %s: account %s (%s), old webhook %+v", what, c.ExternalID, c.Status, s.TG.Webhook(oldToken))
		}
		s.say(conn, oldSecret, update(int64(100+len(what)), "4242", 1700000100, what))
	}
	for _, bad := range []struct {
		what string
		in   platform.SwitchInput
		sub  string
	}{
		{"a page id", platform.SwitchInput{BotToken: &newToken, PageID: str("1")}, "input.pageID"},
		{"a malformed token", platform.SwitchInput{BotToken: str("nope")}, "input.botToken"},
		{"a bot connected elsewhere", platform.SwitchInput{BotToken: &takenToken}, "already connected"},
	} {
		_, err := s.conns.SwitchAccount(s.admin, conn.ID, bad.in)
		if err == nil || !strings.Contains(err.Error(), bad.sub) {
			t.Fatalf("switching with %s: %v, want an error mentioning %q", bad.what, err, bad.sub)
		}
		unchanged(bad.what)
	}
	s.TG.FailNext("setWebhook", 500, 500, "Internal Server Error", 0)
	if _, err := s.conns.SwitchAccount(s.admin, conn.ID, platform.SwitchInput{BotToken: &newToken}); err == nil {
		t.Fatal("a switch whose registration failed succeeded")
	}
	if s.TG.Webhook(newToken).Set {
		t.Error("the failed switch left the new bot's webhook set")
	}
	unchanged("registration failed")

	moved, err := s.conns.SwitchAccount(s.admin, conn.ID, platform.SwitchInput{BotToken: &newToken})
	if err != nil {
		t.Fatal(err)
	}
	if moved.ID != conn.ID || moved.ExternalID != newID || moved.Name != conn.Name || moved.Username != "new_bot" {
		t.Fatalf("moved = %+v", moved)
	}
	if s.TG.Webhook(oldToken).Set {
		t.Error("the old bot still delivers to us")
	}
	hook := s.TG.Webhook(newToken)
	if !hook.Set || !strings.HasSuffix(hook.URL, "/webhooks/telegram/"+string(conn.ID)) {
		t.Fatalf("new bot's webhook = %+v", hook)
	}
	if r := s.post("/webhooks/telegram/"+string(conn.ID), map[string]string{telegram.SecretHeader: oldSecret}, update(7, "4242", 1700000007, "old")); r.status != 401 {
		t.Errorf("the old bot's secret: status %d", r.status)
	}
	s.say(conn, hook.SecretToken, update(8, "4242", 1700000200, "to the new bot"))
	if cs := s.conversations(conn); len(cs) != 1 {
		t.Errorf("the customer's history split into %d conversations", len(cs))
	}
	if ms := texts(s.messages(conn)); ms[len(ms)-1] != "to the new bot" || ms[0] != "to the old bot" {
		t.Errorf("messages = %v", ms)
	}
}

// A bot numbers its updates and, per chat, its messages from its own
// start: after a switch, the new bot's update and message ids repeat the
// old bot's. They are the new bot's own events and messages, not
// duplicates; an edit the new bot sends changes its message only; and what
// the old bot sent before the switch but was processed after it stays the
// old bot's.
func TestSwitchedConnectionTakesTheNewBotsRepeatedIDs(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, _, oldSecret := s.TelegramBot()
	s.tell(conn, oldSecret, update(1, "4242", 1700000001, "old bot, message 1"))
	s.drain()
	// Journaled, not yet processed when the switch commits.
	s.tell(conn, oldSecret, update(2, "4242", 1700000002, "old bot, message 2"))
	s.tell(conn, oldSecret, editedUpdate(3, "4242", 1, "old bot, message 1, edited"))

	newID := testkit.Digits("5")
	newToken := newID + ":AAH-switchTest_" + strings.Repeat("s", 30)
	n, _ := strconv.ParseInt(newID, 10, 64)
	s.TG.AddBot(newToken, telegram.User{ID: n, IsBot: true, FirstName: "New", Username: "new_bot"})
	if _, err := s.conns.SwitchAccount(s.admin, conn.ID, platform.SwitchInput{BotToken: &newToken}); err != nil {
		t.Fatal(err)
	}
	secret := s.TG.Webhook(newToken).SecretToken
	s.tell(conn, secret, update(1, "4242", 1700000101, "new bot, message 1"))
	s.tell(conn, secret, update(2, "4242", 1700000102, "new bot, message 2"))
	s.tell(conn, secret, editedUpdate(3, "4242", 1, "new bot, message 1, edited"))
	s.drain()

	want := []string{"old bot, message 1, edited", "old bot, message 2", "new bot, message 1, edited", "new bot, message 2"}
	if got := texts(s.messages(conn)); !slices.Equal(got, want) {
		t.Fatalf("messages = %q, want %q", got, want)
	}
	if cs := s.conversations(conn); len(cs) != 1 {
		t.Errorf("the customer's history split into %d conversations", len(cs))
	}
	// Redelivered, the new bot's update is the duplicate it is.
	s.tell(conn, secret, update(2, "4242", 1700000102, "new bot, message 2"))
	s.drain()
	if got := texts(s.messages(conn)); len(got) != len(want) {
		t.Fatalf("a redelivery added a message: %q", got)
	}
}

// An event journaled before events recorded their account (an older
// release's backlog, or a replay of one) is the account its connection
// holds: its message is that account's, and the account's edit finds it.
func TestAnEventWithoutAnAccountIsItsConnections(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	s.tell(conn, secret, update(1, "4242", 1700000001, "from before"))
	s.tell(conn, secret, editedUpdate(2, "4242", 1, "from before, edited"))
	if _, err := s.sqlDB.ExecContext(sys(), `UPDATE webhook_events SET account = NULL WHERE connection_id = $1`, conn.ID); err != nil {
		t.Fatal(err)
	}
	s.drain()
	ms := s.messages(conn)
	if len(ms) != 1 {
		t.Fatalf("messages = %q", texts(ms))
	}
	if ms[0].Text != "from before, edited" || ms[0].Account != conn.ExternalID {
		t.Fatalf("message %q of account %q, want the edited text of account %q", ms[0].Text, ms[0].Account, conn.ExternalID)
	}
}
