package webhooks_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/outbox"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// lockedBuffer collects logs written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A whole scenario at LOG_LEVEL=debug: every platform connected, webhooks
// in (forged ones too), replies out, a send the platform refuses and a Zalo
// token renewed. No token or secret used appears anywhere in the logs.
func TestNoSecretInLogs(t *testing.T) {
	logs := &lockedBuffer{}
	s := newStack(t, stackOptions{logs: logs})
	admin := s.Admin()

	tg, tgToken, tgSecret := s.TelegramBot()
	page := testapp.NewFacebookPage()
	fbUser := "EAAGuser" + uniqueDigits("")
	s.meta.AddUser(fbUser, fbUser+"-long", 0, page)
	fbConns, err := s.conns.Connect(admin, facebook.ConnectInput{CampaignID: s.Campaign().ID, UserAccessToken: fbUser, PageIDs: []string{page.ID}})
	if err != nil {
		t.Fatal(err)
	}
	fb := fbConns[0]
	wa, waToken := s.WhatsAppNumber()
	oa := zalo.OA{ID: uniqueDigits("38"), Name: "Secret OA"}
	zAccess, zRefresh := s.zalo.AddOA(oa, "code", "verifier")
	zConns, err := s.conns.Connect(admin, zalo.ConnectInput{CampaignID: s.Campaign().ID, OASecretKey: oaSecret, AccessToken: &zAccess, RefreshToken: &zRefresh})
	if err != nil {
		t.Fatal(err)
	}
	zc := zConns[0]

	// Webhooks, signed and forged.
	tgChat, psid, waID, zUser := uniqueDigits("4"), uniqueDigits("12"), uniqueDigits("84"), uniqueDigits("24")
	s.meta.AddProfile(page.ID, psid, "Lan", "Trần", "")
	s.zalo.AddUser(oa.ID, zUser, "Minh", "")
	// Written now, so that replies are within the platforms' 24-hour windows.
	now := time.Now()
	fbBody := testkit.Fixture(t, "facebook", "text.json", "682498302938465", page.ID, "1254459154682919", psid,
		"1458692752478", strconv.FormatInt(now.UnixMilli(), 10))
	waBody := testkit.Fixture(t, "whatsapp", "text.json", "106540352242922", wa.ExternalID, "16505551234", waID,
		"1739321024", strconv.FormatInt(now.Unix(), 10))
	zBody := zaloFixture(t, "user_send_text.json", "388613280878808645", oa.ID, "246845883529197922", zUser)
	for _, c := range []struct {
		path   string
		header map[string]string
		body   []byte
		want   int
	}{
		{"/webhooks/telegram/" + string(tg.ID), map[string]string{telegram.SecretHeader: tgSecret}, update(1, tgChat, 1700000001, "hi"), 200},
		{"/webhooks/telegram/" + string(tg.ID), map[string]string{telegram.SecretHeader: tgSecret + "x"}, update(2, tgChat, 1700000002, "forged"), 401},
		{"/webhooks/facebook", map[string]string{graphapi.SignatureHeader: graphapi.Sign(fbAppSecret, fbBody)}, fbBody, 200},
		{"/webhooks/facebook", map[string]string{graphapi.SignatureHeader: graphapi.Sign(fbAppSecret+"x", fbBody)}, fbBody, 401},
		{"/webhooks/whatsapp", map[string]string{graphapi.SignatureHeader: graphapi.Sign(waAppSecret, waBody)}, waBody, 200},
		{"/webhooks/zalo", signedZalo(t, zBody, oaSecret), zBody, 200},
		{"/webhooks/zalo", signedZalo(t, zBody, oaSecret+"x"), zBody, 401},
	} {
		if r := s.post(c.path, c.header, c.body); r.status != c.want {
			t.Fatalf("%s: %d, want %d", c.path, r.status, c.want)
		}
	}
	convs := map[string]*ent.Conversation{}
	testkit.Eventually(t, "a conversation per platform", func() bool {
		for _, c := range []*ent.Connection{tg, fb, wa, zc} {
			if len(s.conversations(c)) == 0 {
				return false
			}
			convs[string(c.ID)] = s.conversations(c)[0]
		}
		return true
	})

	// Replies: Telegram refuses one for good, Zalo's access token has
	// expired and is renewed with the refresh token.
	s.tg.FailNext("sendMessage", 403, 403, "Forbidden: bot was blocked by the user", 0)
	s.zalo.ExpireAccessToken(zAccess)
	u := s.db.User.Create().SetEmail(uniqueDigits("agent") + "@example.com").SetName("Agent").SetPasswordHash("x").SaveX(sys())
	agent := auth.WithViewer(context.Background(), &auth.Viewer{UserID: u.ID, Admin: true})
	var sent []*ent.Message
	reply := "reply"
	for _, c := range []*ent.Connection{tg, tg, fb, wa, zc} {
		m, err := s.Outbox.Send(agent, outbox.SendInput{ConversationID: convs[string(c.ID)].ID, Text: &reply, ClientMessageID: uniqueDigits("c")})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	testkit.Eventually(t, "every reply settled", func() bool {
		for _, m := range sent {
			if s.db.Message.GetX(sys(), m.ID).Status == message.StatusPENDING {
				return false
			}
		}
		return true
	})
	if s.db.Message.GetX(sys(), sent[0].ID).Status != message.StatusFAILED {
		t.Fatalf("the refused send: %s", s.db.Message.GetX(sys(), sent[0].ID).Status)
	}
	if s.zalo.Refreshes() == 0 {
		t.Fatal("the Zalo token was not renewed")
	}

	out := logs.String()
	if !strings.Contains(out, "webhook rejected") || !strings.Contains(out, "sending a message failed") {
		t.Fatalf("the scenario did not log what it should; logs:\n%s", out)
	}
	_, tgBotSecret, _ := strings.Cut(tgToken, ":")
	for name, secret := range map[string]string{
		"Telegram bot token": tgToken, "Telegram bot secret": tgBotSecret, "Telegram webhook secret": tgSecret,
		"Facebook user token": fbUser, "Facebook long-lived token": fbUser + "-long", "page token": page.Token,
		"Facebook app secret": fbAppSecret, "WhatsApp token": waToken, "WhatsApp app secret": waAppSecret,
		"Zalo access token": zAccess, "Zalo refresh token": zRefresh, "Zalo OA secret": oaSecret, "Zalo app secret": "zalo-app-secret",
		"JWT secret": "test-secret-test-secret-test-secret-0123", "encryption key": base64.StdEncoding.EncodeToString(s.Key),
	} {
		if strings.Contains(out, secret) {
			i := strings.Index(out, secret)
			t.Errorf("the %s appears in the logs: …%s…", name, out[max(0, i-200):min(len(out), i+len(secret)+50)])
		}
	}
}
