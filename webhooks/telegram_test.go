package webhooks_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

func update(id int64, chat string, date int64, text string) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":%s,"type":"private","first_name":"Lan","last_name":"Nguyen"},"from":{"id":%s,"is_bot":false,"first_name":"Lan"},"text":%q}}`,
		id, id, date, chat, chat, text)
}

func TestTelegramWebhook(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	path := "/webhooks/telegram/" + string(conn.ID)
	signed := map[string]string{telegram.SecretHeader: secret}

	t.Run("verbatim update becomes a conversation, once", func(t *testing.T) {
		body := testkit.Fixture(t, "telegram", "text.json")
		for range 2 {
			if r := s.post(path, signed, body); r.status != 200 {
				t.Fatalf("status %d %s", r.status, r.body)
			}
		}
		testkit.Eventually(t, "the journal is processed", func() bool { return s.pending(conn) == 0 })
		ms := s.messages(conn)
		if len(ms) != 1 || ms[0].Text != "/start" || ms[0].Direction != "INBOUND" || s.journaled(conn, "update:10000") != 1 {
			t.Fatalf("messages = %v, journal %d", texts(ms), s.journaled(conn, "update:10000"))
		}
		ct := s.db.Contact.Query().Where(contact.ExternalID("1111111"), contact.CampaignID(conn.CampaignID)).OnlyX(sys())
		cv := s.db.Conversation.Query().Where(conversation.ContactID(ct.ID)).OnlyX(sys())
		if ct.Name != "Test Firstname Test Lastname" || cv.UnreadCount != 1 || cv.LastMessageID == nil || *cv.LastMessageID != ms[0].ID ||
			!ms[0].SentAt.Equal(time.Unix(1441645532, 0)) {
			t.Fatalf("contact %+v conversation %+v", ct, cv)
		}
	})

	t.Run("platform time orders messages, then arrival", func(t *testing.T) {
		chat := "77" + fmt.Sprint(time.Now().UnixNano()%1e8)
		base := time.Now().Unix()
		// Arrival order: third, first, second-a, second-b (same second as second-a).
		for i, u := range [][]byte{
			update(20003, chat, base+10, "third"),
			update(20001, chat, base, "first"),
			update(20002, chat, base+5, "second-a"),
			update(20004, chat, base+5, "second-b"),
		} {
			if r := s.post(path, signed, u); r.status != 200 {
				t.Fatalf("update %d: %d", i, r.status)
			}
		}
		var got []string
		testkit.Eventually(t, "four messages", func() bool {
			got = nil
			for _, m := range s.messages(conn) {
				if m.ExternalID != nil && strings.HasPrefix(*m.ExternalID, chat+":") {
					got = append(got, m.Text)
				}
			}
			return len(got) == 4
		})
		if want := []string{"first", "second-a", "second-b", "third"}; !slices.Equal(got, want) {
			t.Fatalf("order = %v, want %v", got, want)
		}
		ct := s.db.Contact.Query().Where(contact.ExternalID(chat)).OnlyX(sys())
		cv := s.db.Conversation.Query().Where(conversation.ContactID(ct.ID)).WithLastMessage().OnlyX(sys())
		if cv.Edges.LastMessage.Text != "third" || cv.UnreadCount != 4 {
			t.Fatalf("last message %q unread %d, want third and 4", cv.Edges.LastMessage.Text, cv.UnreadCount)
		}
	})

	t.Run("edited message updates the text", func(t *testing.T) {
		body := testkit.Fixture(t, "telegram", "edited_message.json", `"update_id":10000`, `"update_id":10005`)
		if r := s.post(path, signed, body); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		testkit.Eventually(t, "the edit applies", func() bool {
			return slices.Contains(texts(s.messages(conn)), "Edited text")
		})
	})

	t.Run("big chat ids survive exactly", func(t *testing.T) {
		if r := s.post(path, signed, testkit.Fixture(t, "telegram", "big_chat_id.json")); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		testkit.Eventually(t, "the group contact", func() bool {
			return s.db.Contact.Query().Where(contact.ExternalID("-1001234567890123456")).ExistX(sys())
		})
	})

	t.Run("rejections", func(t *testing.T) {
		other, _ := s.telegramBot()
		gone, goneSecret := s.telegramBot()
		if _, err := s.conns.Disconnect(s.admin, gone.ID); err != nil {
			t.Fatal(err)
		}
		// The edge has never looked gone up, so no cached route says it is live.
		before := s.db.Connection.GetX(sys(), conn.ID).WebhookErrorCount
		for _, tc := range []struct {
			name   string
			path   string
			header map[string]string
			body   []byte
			want   int
		}{
			{"missing secret", path, nil, update(30001, "1", 1, "x"), 401},
			{"wrong secret", path, map[string]string{telegram.SecretHeader: secret + "x"}, update(30002, "1", 1, "x"), 401},
			{"another bot's secret", "/webhooks/telegram/" + string(other.ID), signed, update(30003, "1", 1, "x"), 401},
			{"unknown connection", "/webhooks/telegram/con_01HZZZZZZZZZZZZZZZZZZZZZZZ", signed, update(30004, "1", 1, "x"), 404},
			{"malformed id", "/webhooks/telegram/%27%3B--", signed, update(30005, "1", 1, "x"), 404},
			{"disconnected", "/webhooks/telegram/" + string(gone.ID), map[string]string{telegram.SecretHeader: goneSecret}, update(30006, "1", 1, "x"), 410},
			{"unparsable JSON", path, signed, []byte(`{"update_id":`), 400},
			{"no update_id", path, signed, []byte(`{"message":{}}`), 400},
			{"too large", path, signed, append([]byte(`{"update_id":1,"x":"`), []byte(strings.Repeat("a", 1<<20)+`"}`)...), 413},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if r := s.post(tc.path, tc.header, tc.body); r.status != tc.want {
					t.Fatalf("status %d, want %d", r.status, tc.want)
				}
			})
		}
		// Health is written in batches, a few times a second. Five name the
		// connection: two secrets, two bodies and the oversize one.
		testkit.Eventually(t, "the rejections are counted", func() bool {
			return s.db.Connection.GetX(sys(), conn.ID).WebhookErrorCount == before+5
		})
		after := s.db.Connection.GetX(sys(), conn.ID)
		if !strings.Contains(after.WebhookLastError, "rejected") {
			t.Fatalf("last error %q", after.WebhookLastError)
		}
		if strings.Contains(after.WebhookLastError, secret) {
			t.Fatal("the last error repeats the secret")
		}
	})

	t.Run("statistics", func(t *testing.T) {
		testkit.Eventually(t, "the statistics are written", func() bool {
			c := s.db.Connection.GetX(sys(), conn.ID)
			return c.WebhookTotalReceived >= 7 && c.WebhookLastReceivedAt != nil
		})
	})
}
