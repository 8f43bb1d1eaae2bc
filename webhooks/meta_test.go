package webhooks_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

func (s *stack) facebookPage() *ent.Connection {
	conn, _ := s.FacebookPage()
	return conn
}

func (s *stack) whatsappNumber() *ent.Connection {
	conn, _ := s.WhatsAppNumber()
	return conn
}

func (s *stack) get(path string) reply {
	s.t.Helper()
	resp, err := s.hc.Get(s.url + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		s.t.Fatalf("handshake answered %s", resp.Header.Get("Content-Type"))
	}
	return reply{resp.StatusCode, string(b)}
}

func TestMetaHandshake(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, p := range []string{"facebook", "whatsapp"} {
		t.Run(p, func(t *testing.T) {
			if r := s.get("/webhooks/" + p + "?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=" + verifyToken); r.status != 200 || r.body != "1158201444" {
				t.Fatalf("handshake = %d %q", r.status, r.body)
			}
			if r := s.get("/webhooks/" + p + "?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong"); r.status != http.StatusForbidden {
				t.Fatalf("wrong token = %d", r.status)
			}
		})
	}
}

func TestFacebookWebhook(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn := s.facebookPage()
	psid := uniqueDigits("12")
	s.meta.AddProfile(conn.ExternalID, psid, "Lan", "Trần", "https://cdn.example/lan.jpg")
	load := func(name string) []byte {
		return testkit.Fixture(t, "facebook", name, "682498302938465", conn.ExternalID, "1254459154682919", psid)
	}
	send := func(body []byte) reply {
		return s.post("/webhooks/facebook", map[string]string{graphapi.SignatureHeader: graphapi.Sign(fbAppSecret, body)}, body)
	}

	for _, name := range []string{"text.json", "text.json", "echo.json", "image.json"} {
		if r := send(load(name)); r.status != 200 || r.body != "EVENT_RECEIVED" {
			t.Fatalf("%s: %d %q", name, r.status, r.body)
		}
	}
	testkit.Eventually(t, "three messages", func() bool { return len(s.messages(conn)) == 3 })
	ms := s.messages(conn)
	var echo *ent.Message
	for _, m := range ms {
		if m.Direction == message.DirectionOUTBOUND {
			echo = m
		}
	}
	if echo == nil || echo.Text != "hello, world!" || echo.Status != message.StatusSENT {
		t.Fatalf("echo = %+v", echo)
	}
	// Messenger webhooks carry no names: the profile API fills them in.
	testkit.Eventually(t, "the profile is fetched", func() bool {
		ct := s.db.Contact.Query().Where(contact.ExternalID(psid)).OnlyX(sys())
		return ct.Name == "Lan Trần" && ct.AvatarURL == "https://cdn.example/lan.jpg"
	})
	ct := s.db.Contact.Query().Where(contact.ExternalID(psid)).OnlyX(sys())
	if n := ct.QueryConversations().CountX(sys()); n != 1 {
		t.Fatalf("the customer has %d conversations, want 1", n)
	}

	// Receipts move the echo forward: delivered, read; a late delivery does not move it back.
	deliveryAfterEcho := strings.Replace(string(load("delivery.json")), `"watermark":1458668856253`, `"watermark":1957764197627`, 1)
	readAfterEcho := strings.Replace(string(load("read.json")), `"watermark":1458668856253`, `"watermark":1957764197627`, 1)
	send([]byte(deliveryAfterEcho))
	testkit.Eventually(t, "delivered", func() bool { return s.db.Message.GetX(sys(), echo.ID).Status == message.StatusDELIVERED })
	send([]byte(readAfterEcho))
	testkit.Eventually(t, "read", func() bool { return s.db.Message.GetX(sys(), echo.ID).Status == message.StatusREAD })
	late := strings.Replace(deliveryAfterEcho, `"watermark":1957764197627`, `"watermark":1957764197628`, 1)
	send([]byte(late))
	testkit.Eventually(t, "the late receipt is processed", func() bool {
		return s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.ProcessedAtIsNil()).CountX(sys()) == 0
	})
	if st := s.db.Message.GetX(sys(), echo.ID).Status; st != message.StatusREAD {
		t.Fatalf("a late delivery moved READ back to %s", st)
	}

	t.Run("big ids", func(t *testing.T) {
		big := testkit.Fixture(t, "facebook", "bigids.json")
		if r := send(big); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		// The fixture's page is not connected: journaled as unroutable, no contact.
		testkit.Eventually(t, "the unroutable entry", func() bool {
			return s.db.WebhookEvent.Query().Where(webhookevent.ConnectionIDIsNil(), webhookevent.ErrorContains("unroutable")).ExistX(sys())
		})
	})
	t.Run("rejections", func(t *testing.T) {
		body := load("text.json")
		for _, tc := range []struct {
			name   string
			header map[string]string
			body   []byte
			want   int
		}{
			{"missing signature", nil, body, 401},
			{"wrong secret", map[string]string{graphapi.SignatureHeader: graphapi.Sign("not-the-secret", body)}, body, 401},
			{"tampered body", map[string]string{graphapi.SignatureHeader: graphapi.Sign(fbAppSecret, body)}, append([]byte(" "), body...), 401},
			{"signed garbage", map[string]string{graphapi.SignatureHeader: graphapi.Sign(fbAppSecret, []byte("{nope"))}, []byte("{nope"), 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if r := s.post("/webhooks/facebook", tc.header, tc.body); r.status != tc.want {
					t.Fatalf("status %d, want %d", r.status, tc.want)
				}
			})
		}
	})
}

func TestWhatsAppWebhook(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn := s.whatsappNumber()
	waID := uniqueDigits("84")
	load := func(name string) []byte {
		return testkit.Fixture(t, "whatsapp", name, "106540352242922", conn.ExternalID, "16505551234", waID)
	}
	send := func(body []byte) reply {
		return s.post("/webhooks/whatsapp", map[string]string{graphapi.SignatureHeader: graphapi.Sign(waAppSecret, body)}, body)
	}
	for _, name := range []string{"text.json", "text.json", "image.json", "location.json"} {
		if r := send(load(name)); r.status != 200 {
			t.Fatalf("%s: %d", name, r.status)
		}
	}
	testkit.Eventually(t, "three messages", func() bool { return len(s.messages(conn)) == 3 })
	ct := s.db.Contact.Query().Where(contact.ExternalID(waID)).OnlyX(sys())
	if ct.Name != "Sheena Nelson" || ct.Phone != "+"+waID {
		t.Fatalf("contact = %+v", ct)
	}

	// An outbound message (as sending will store it) and its statuses, out of order.
	cv := ct.QueryConversations().OnlyX(sys())
	wamid := "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI2QjU1RjdGNTQ4QjlGMDVBODYA"
	out := s.db.Message.Create().SetCampaignID(conn.CampaignID).SetConversationID(cv.ID).SetConnectionID(conn.ID).
		SetDirection(message.DirectionOUTBOUND).SetText("Your order shipped").SetExternalID(wamid).SetAccount(conn.ExternalID).
		SetStatus(message.StatusSENT).SetSentAt(time.Now()).SetPosition("9999999999999|x").SaveX(sys())
	send(load("status_read.json"))
	testkit.Eventually(t, "read", func() bool { return s.db.Message.GetX(sys(), out.ID).Status == message.StatusREAD })
	send(load("status_delivered.json"))
	send([]byte(strings.Replace(string(load("status_failed.json")), "GBI2QjU1RjdGNTQ4QjlGMDVBODkA", "GBI2QjU1RjdGNTQ4QjlGMDVBODYA", 1)))
	testkit.Eventually(t, "the late statuses are processed", func() bool {
		return s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.ProcessedAtIsNil()).CountX(sys()) == 0
	})
	if got := s.db.Message.GetX(sys(), out.ID); got.Status != message.StatusREAD {
		t.Fatalf("status moved back to %s", got.Status)
	}
	if r := s.post("/webhooks/whatsapp", map[string]string{graphapi.SignatureHeader: graphapi.Sign(fbAppSecret, load("text.json"))}, load("text.json")); r.status != 401 {
		t.Fatalf("signed with the Messenger secret: %d, want 401", r.status)
	}
}
