package webhooks_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

const oaSecret = "oa-secret-key-for-webhooks"

func (s *stack) zaloOA() *ent.Connection { return s.ZaloOA(oaSecret) }

var zaloTimestamp = regexp.MustCompile(`"timestamp":\s*"?[0-9]+"?`)

// zaloFixture reads a Zalo fixture with replacements, stamped now: the edge
// refuses events older than ZALO_MAX_EVENT_AGE as replays.
func zaloFixture(t testing.TB, name string, replace ...string) []byte {
	return stamped(testkit.Fixture(t, "zalo", name, replace...), time.Now())
}

// stamped sets a Zalo body's timestamp.
func stamped(body []byte, at time.Time) []byte {
	return zaloTimestamp.ReplaceAll(body, []byte(`"timestamp":"`+strconv.FormatInt(at.UnixMilli(), 10)+`"`))
}

// signedZalo signs a Zalo body with an OA's secret key, as Zalo does.
func signedZalo(t testing.TB, body []byte, secret string) map[string]string {
	t.Helper()
	env, err := zalo.Peek(body)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{zalo.SignatureHeader: zalo.Sign(env.AppID, body, env.Timestamp, secret)}
}

func TestZaloWebhook(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn := s.zaloOA()
	user := uniqueDigits("24")
	s.zalo.AddUser(conn.ExternalID, user, "Phạm Minh", "https://zalo.example/minh.jpg")
	load := func(name string) []byte {
		return zaloFixture(t, name, "388613280878808645", conn.ExternalID, "246845883529197922", user)
	}
	send := func(path string, body []byte, secret string) reply {
		return s.post(path, signedZalo(t, body, secret), body)
	}
	text := load("user_send_text.json")
	for _, path := range []string{"/webhooks/zalo", "/webhooks/zalo/" + string(conn.ID)} {
		if r := send(path, text, oaSecret); r.status != 200 {
			t.Fatalf("%s: %d", path, r.status)
		}
	}
	testkit.Eventually(t, "the message", func() bool { return len(s.messages(conn)) == 1 })
	testkit.Eventually(t, "the profile from user/detail", func() bool {
		ct := s.db.Contact.Query().Where(contact.ExternalID(user), contact.CampaignID(conn.CampaignID)).OnlyX(sys())
		return ct.Name == "Phạm Minh" && ct.AvatarURL == "https://zalo.example/minh.jpg"
	})
	if m := s.messages(conn)[0]; m.Text != "message" || *m.ExternalID != "96d3cdf3af150460909" || m.Direction != message.DirectionINBOUND {
		t.Fatalf("message = %+v", m)
	}

	t.Run("rejections", func(t *testing.T) {
		before := s.db.Connection.GetX(sys(), conn.ID).WebhookErrorCount
		if r := send("/webhooks/zalo", text, "wrong-secret"); r.status != 401 {
			t.Fatalf("wrong secret: %d", r.status)
		}
		if r := s.post("/webhooks/zalo", nil, text); r.status != 401 {
			t.Fatalf("missing signature: %d", r.status)
		}
		if r := s.post("/webhooks/zalo", nil, []byte("{nope")); r.status != 400 {
			t.Fatalf("garbage: %d", r.status)
		}
		// The body's OA routes, whatever the path names: the signature is
		// what is missing.
		if r := s.post("/webhooks/zalo/con_01HZZZZZZZZZZZZZZZZZZZZZZZ", nil, text); r.status != 401 {
			t.Fatalf("unsigned, on a path naming no connection: %d", r.status)
		}
		testkit.Eventually(t, "three rejections counted", func() bool {
			return s.db.Connection.GetX(sys(), conn.ID).WebhookErrorCount == before+3
		})
	})
	t.Run("an OA that is not connected: 200, nothing stored", func(t *testing.T) {
		stranger := zaloFixture(t, "user_send_text.json", "96d3cdf3af150460909", "stranger-msg")
		before := s.db.WebhookEvent.Query().CountX(sys())
		if r := send("/webhooks/zalo", stranger, "whatever"); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		if after := s.db.WebhookEvent.Query().CountX(sys()); after != before {
			t.Fatalf("stored %d journal entries for an unverifiable event", after-before)
		}
	})
	t.Run("follow, form, echo and receipts", func(t *testing.T) {
		// These fixtures share another app, OA and user: point them at ours.
		load := func(name string) []byte {
			return zaloFixture(t, name, "2847561930475829163", zaloAppID, "4318291638716923456", conn.ExternalID, "7204918273645501928", user)
		}
		for _, name := range []string{"follow.json", "user_submit_info.json", "oa_send_text.json", "user_seen_message.json"} {
			if r := send("/webhooks/zalo", load(name), oaSecret); r.status != 200 {
				t.Fatalf("%s: %d", name, r.status)
			}
		}
		testkit.Eventually(t, "all processed", func() bool {
			return !s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.ProcessedAtIsNil()).ExistX(sys())
		})
		echo := s.db.Message.Query().Where(message.ConnectionID(conn.ID), message.DirectionEQ(message.DirectionOUTBOUND)).OnlyX(sys())
		if echo.Text != "Dạ shop chào anh, size M vẫn còn ạ." || echo.Status != message.StatusREAD {
			t.Fatalf("echo = %q %s, want the OA's reply, READ", echo.Text, echo.Status)
		}
		ct := s.db.Contact.Query().Where(contact.ExternalID(user), contact.CampaignID(conn.CampaignID)).OnlyX(sys())
		// Stored in E.164, so calls from the number find the customer.
		if ct.Name != "Nguyễn Văn An" || ct.Phone != "+84912345678" {
			t.Fatalf("contact = %+v", ct)
		}
	})
}
