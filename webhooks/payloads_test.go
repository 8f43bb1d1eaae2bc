package webhooks_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// What customers send is kept whole: a tapped button, who wrote in a
// group, an edit of a message we never had.

// messageByExternalID is the connection's message with the platform id, or nil.
func (s *stack) messageByExternalID(conn *ent.Connection, id string) *ent.Message {
	m, err := s.db.Message.Query().Where(message.ConnectionID(conn.ID), message.ExternalID(id)).Only(sys())
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return m
}

// contactOf is the customer of a message's conversation.
func (s *stack) contactOf(m *ent.Message) *ent.Contact {
	return s.db.Conversation.Query().Where(conversation.ID(m.ConversationID)).QueryContact().OnlyX(sys())
}

// answered counts the answerCallbackQuery calls the fake took for the query.
func (s *stack) answered(queryID string) int {
	n := 0
	for _, c := range s.tg.Calls(telegram.OpAnswerCallbackQuery) {
		if c["callback_query_id"] == queryID {
			n++
		}
	}
	return n
}

func TestTelegramCallbackQuery(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	post := s.telegramPoster(conn, secret)

	t.Run("a tapped button is the customer's message, answered once", func(t *testing.T) {
		body := testkit.Fixture(t, "telegram", "callback_query_message.json")
		post(body)
		post(body) // Telegram's retry of the same update
		const id = "1111111:1380:callback:4382763498734567890"
		var m *ent.Message
		testkit.Eventually(t, "the tap is stored", func() bool { m = s.messageByExternalID(conn, id); return m != nil })
		if m.Text != "plan:pro" || m.Direction != message.DirectionINBOUND || m.Kind != message.KindTEXT || m.Author != nil {
			t.Fatalf("message = %+v", m)
		}
		if ct := s.contactOf(m); ct.ExternalID != "1111111" || ct.Name != "Test Firstname Test Lastname" {
			t.Fatalf("contact = %+v", ct)
		}
		testkit.Eventually(t, "the query is answered", func() bool { return s.answered("4382763498734567890") > 0 })
		if n, j := s.answered("4382763498734567890"), s.journaled(conn, "update:10013"); n != 1 || j != 1 {
			t.Fatalf("answered %d times, journaled %d times; want once each", n, j)
		}
		if len(s.messages(conn)) != 1 {
			t.Fatalf("messages = %v", texts(s.messages(conn)))
		}
	})

	t.Run("an answer Telegram refuses fails nothing", func(t *testing.T) {
		s.tg.FailNext(telegram.OpAnswerCallbackQuery, http.StatusBadRequest, http.StatusBadRequest,
			"Bad Request: query is too old and response timeout expired or query ID is invalid", 0)
		post(testkit.Fixture(t, "telegram", "callback_query_group.json"))
		testkit.Eventually(t, "the answer is tried", func() bool { return s.answered("4382763498734567891") == 1 })
		testkit.Eventually(t, "the tap is processed", func() bool { return s.pending(conn) == 0 })
		ev := s.event(conn, "update:10014")
		if ev.ProcessedAt == nil || ev.FailedAt != nil || ev.Error != "" {
			t.Fatalf("journal entry = %+v, want processed", ev)
		}
		m := s.messageByExternalID(conn, "-4012345678:58:callback:4382763498734567891")
		if m == nil || m.Text != "helpful:no" || m.Author == nil || *m.Author != (schematype.MessageAuthor{Name: "Mai Tran", ExternalID: "2222222"}) {
			t.Fatalf("message = %+v", m)
		}
	})
}

func TestTelegramGroupAuthors(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	post := s.telegramPoster(conn, secret)
	post(testkit.Fixture(t, "telegram", "group_message.json"))
	post(testkit.Fixture(t, "telegram", "group_message.json", `"update_id":10009`, `"update_id":10020`, `"message_id":57`, `"message_id":59`,
		`"id":1111111,"is_bot":false,"first_name":"Test","last_name":"Lastname"`, `"id":3333333,"is_bot":false,"first_name":"Hoa","last_name":"Le"`,
		"hello from the group", "me too"))
	post(testkit.Fixture(t, "telegram", "text.json"))
	testkit.Eventually(t, "three messages", func() bool { return len(s.messages(conn)) == 3 })

	authors := map[string]*schematype.MessageAuthor{}
	conversations := map[string]bool{}
	for _, m := range s.messages(conn) {
		authors[m.Text] = m.Author
		conversations[s.contactOf(m).ExternalID] = true
	}
	want := map[string]*schematype.MessageAuthor{
		"hello from the group": {Name: "Test Lastname", ExternalID: "1111111"},
		"me too":               {Name: "Hoa Le", ExternalID: "3333333"},
		"/start":               nil, // a private chat's writer is its contact
	}
	if diff := cmp.Diff(want, authors); diff != "" {
		t.Errorf("authors (-want +got):\n%s", diff)
	}
	// The group is one conversation, whoever writes in it.
	if !conversations["-4012345678"] || !conversations["1111111"] || len(conversations) != 2 {
		t.Errorf("conversations with %v, want the group and the private chat", conversations)
	}
	group := s.db.Contact.Query().Where(contact.CampaignID(conn.CampaignID), contact.ExternalID("-4012345678")).OnlyX(sys())
	if group.Name != "Support Team" {
		t.Errorf("group contact = %+v", group)
	}
}

func TestTelegramEditOfUnknownMessage(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	post := s.telegramPoster(conn, secret)
	chat := uniqueDigits("9")
	edit := func(updateID, date, editDate int64, text string) []byte {
		return fmt.Appendf(nil, `{"update_id":%d,"edited_message":{"message_id":77,"date":%d,"edit_date":%d,"chat":{"id":%s,"type":"private","first_name":"Lan"},"from":{"id":%s,"is_bot":false,"first_name":"Lan"},"text":%q}}`,
			updateID, date, editDate, chat, chat, text)
	}
	id := chat + ":77"
	const sent, firstEdit, secondEdit = 1700000000, 1700000100, 1700000200

	post(edit(1, sent, firstEdit, "sent before the bot was connected, then edited"))
	var m *ent.Message
	testkit.Eventually(t, "the edit is stored as the message", func() bool { m = s.messageByExternalID(conn, id); return m != nil })
	if ev := s.event(conn, "update:1"); ev.ProcessedAt == nil || ev.Attempts != 1 {
		t.Fatalf("journal entry = %+v, want processed at the first attempt", ev)
	}
	if m.Text != "sent before the bot was connected, then edited" || m.Direction != message.DirectionINBOUND ||
		!m.SentAt.Equal(time.Unix(sent, 0)) || m.EditedAt == nil || !m.EditedAt.Equal(time.Unix(firstEdit, 0)) {
		t.Fatalf("message = %+v", m)
	}
	cv := s.db.Conversation.GetX(sys(), m.ConversationID)
	if cv.UnreadCount != 1 || cv.LastMessageID == nil || *cv.LastMessageID != m.ID {
		t.Fatalf("conversation = %+v", cv)
	}

	post(edit(2, sent, secondEdit, "edited again"))
	testkit.Eventually(t, "the later edit applies", func() bool { return s.messageByExternalID(conn, id).Text == "edited again" })
	if m := s.messageByExternalID(conn, id); !m.EditedAt.Equal(time.Unix(secondEdit, 0)) {
		t.Fatalf("edited at %v, want the later edit's", m.EditedAt)
	}

	// An older edit arriving late, and the original itself, change nothing.
	post(edit(3, sent, firstEdit, "an older edit, late"))
	post(fmt.Appendf(nil, `{"update_id":4,"message":{"message_id":77,"date":%d,"chat":{"id":%s,"type":"private","first_name":"Lan"},"text":"the original, late"}}`, sent, chat))
	testkit.Eventually(t, "both are processed", func() bool { return s.pending(conn) == 0 })
	ms := s.messages(conn)
	if len(ms) != 1 || ms[0].Text != "edited again" || !ms[0].EditedAt.Equal(time.Unix(secondEdit, 0)) {
		t.Fatalf("messages = %v, want the later edit alone", texts(ms))
	}
}

func TestTelegramEditOfKnownMessageIsMarkedEdited(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	post := s.telegramPoster(conn, secret)
	post(testkit.Fixture(t, "telegram", "text.json"))
	testkit.Eventually(t, "the message", func() bool { return s.messageByExternalID(conn, "1111111:1365") != nil })
	if m := s.messageByExternalID(conn, "1111111:1365"); m.EditedAt != nil {
		t.Fatalf("a message never edited has editedAt %v", m.EditedAt)
	}
	post(testkit.Fixture(t, "telegram", "edited_message.json", `"update_id":10000`, `"update_id":10001`))
	testkit.Eventually(t, "the edit applies", func() bool { return s.messageByExternalID(conn, "1111111:1365").Text == "Edited text" })
	m := s.messageByExternalID(conn, "1111111:1365")
	if m.EditedAt == nil || !m.EditedAt.Equal(time.Unix(1441646600, 0)) || !m.SentAt.Equal(time.Unix(1441645532, 0)) {
		t.Fatalf("message = %+v, want sent at date and edited at edit_date", m)
	}
}

func TestMessengerPayloads(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn := s.facebookPage()
	psid := uniqueDigits("12")
	s.meta.AddProfile(conn.ExternalID, psid, "Lan", "Trần", "https://cdn.example/lan.jpg")
	send := func(name string, replace ...string) {
		t.Helper()
		body := testkit.Fixture(t, "facebook", name, append([]string{"682498302938465", conn.ExternalID, "1254459154682919", psid}, replace...)...)
		if r := s.post("/webhooks/facebook", map[string]string{graphapi.SignatureHeader: graphapi.Sign(fbAppSecret, body)}, body); r.status != 200 {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
	}

	t.Run("an edit of a message never stored is stored at once", func(t *testing.T) {
		send("message_edit.json")
		var m *ent.Message
		testkit.Eventually(t, "the edit is stored", func() bool {
			m = s.messageByExternalID(conn, "mid.1457764197618:41d102a3e1ae206a38")
			return m != nil
		})
		at := time.UnixMilli(1458692760100)
		if m.Text != "hello, world! (edited)" || m.EditedAt == nil || !m.EditedAt.Equal(at) || !m.SentAt.Equal(at) {
			t.Fatalf("message = %+v", m)
		}
		// The original, arriving after its edit, adds nothing.
		send("text.json")
		testkit.Eventually(t, "processed", func() bool { return s.pending(conn) == 0 })
		if ms := s.messages(conn); len(ms) != 1 || ms[0].Text != "hello, world! (edited)" {
			t.Fatalf("messages = %v", texts(ms))
		}
	})

	t.Run("an edit of a stored message", func(t *testing.T) {
		const mid = "mid.1457764197618:41d102a3e1ae206a40"
		send("text.json", "mid.1457764197618:41d102a3e1ae206a38", mid, `"timestamp":1458692752478`, `"timestamp":1458692770000`)
		testkit.Eventually(t, "the message", func() bool { return s.messageByExternalID(conn, mid) != nil })
		send("message_edit.json", "mid.1457764197618:41d102a3e1ae206a38", mid, `"timestamp":1458692760100`, `"timestamp":1458692780000`,
			"hello, world! (edited)", "hello, world!!")
		testkit.Eventually(t, "the edit applies", func() bool { return s.messageByExternalID(conn, mid).Text == "hello, world!!" })
		m := s.messageByExternalID(conn, mid)
		if m.EditedAt == nil || !m.EditedAt.Equal(time.UnixMilli(1458692780000)) || !m.SentAt.Equal(time.UnixMilli(1458692770000)) {
			t.Fatalf("message = %+v", m)
		}
	})

	t.Run("a postback without title reads as its payload", func(t *testing.T) {
		send("postback_payload_only.json")
		testkit.Eventually(t, "the postback", func() bool {
			return slices.Contains(texts(s.messages(conn)), "ORDER_STATUS")
		})
	})
}
