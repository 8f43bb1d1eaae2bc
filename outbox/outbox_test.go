package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/outbox"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/zalo/zalotest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const fbAppSecret = "fb-app-secret-outbox"

// start runs the application with one sending worker (unless env says
// otherwise) and returns it with an agent's context.
func start(t *testing.T, env map[string]string) (*testapp.Stack, context.Context) {
	t.Helper()
	e := map[string]string{"OUTBOX_WORKERS": "1", "INGEST_WORKERS": "1", "FACEBOOK_APP_ID": "fb-app", "FACEBOOK_APP_SECRET": fbAppSecret,
		"ZALO_APP_ID": "360846524940903967", "ZALO_APP_SECRET": "zalo-app-secret", "MEDIA_FETCH_ALLOW_PRIVATE": "true"}
	for k, v := range env {
		e[k] = v
	}
	s := testapp.Start(t, testapp.Options{Env: e})
	u := s.Client.User.Create().SetEmail(testkit.Digits("agent") + "@example.com").SetName("Agent").SetPasswordHash("x").SaveX(testkit.Sys())
	return s, auth.WithViewer(context.Background(), &auth.Viewer{UserID: u.ID, Admin: true})
}

func text(s string) *string { return &s }

// send sends and fails the test on an error.
func send(t *testing.T, s *testapp.Stack, ctx context.Context, conv *ent.Conversation, in outbox.SendInput) *ent.Message {
	t.Helper()
	in.ConversationID = conv.ID
	if in.ClientMessageID == "" {
		in.ClientMessageID = testkit.Digits("c")
	}
	m, err := s.Outbox.Send(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// settled waits until the message leaves PENDING and returns it.
func settled(t *testing.T, s *testapp.Stack, id pulid.ID) *ent.Message {
	t.Helper()
	var m *ent.Message
	testkit.Eventually(t, "the message is sent or fails", func() bool {
		m = s.Client.Message.GetX(testkit.Sys(), id)
		return m.Status != message.StatusPENDING
	})
	return m
}

// media serves an image and a PDF, as an agent's uploads would be served.
func media(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".pdf") {
			w.Header().Set("Content-Type", "application/pdf")
			fmt.Fprint(w, "%PDF-1.4 test")
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n-test-image"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSendTelegram(t *testing.T) {
	s, agent := start(t, nil)
	conn, token, _ := s.TelegramBot()
	conv := s.Customer(conn, "4242", time.Now())

	m := send(t, s, agent, conv, outbox.SendInput{Text: text("Xin chào, shop đây")})
	if m.Status != message.StatusPENDING || m.Direction != message.DirectionOUTBOUND || m.SenderID == nil {
		t.Fatalf("stored message = %+v", m)
	}
	m = settled(t, s, m.ID)
	sent := s.TG.Sent(token)
	if m.Status != message.StatusSENT || len(sent) != 1 || sent[0].Method != "sendMessage" || sent[0].ChatID != 4242 || sent[0].Text != "Xin chào, shop đây" ||
		m.ExternalID == nil || *m.ExternalID != fmt.Sprintf("4242:%d", sent[0].MessageID) || m.Account != conn.ExternalID || m.Attempts != 1 {
		t.Fatalf("message %+v, fake got %+v", m, sent)
	}
	// An image with a caption that fits is one platform message; with text
	// beyond the caption limit, two.
	img := send(t, s, agent, conv, outbox.SendInput{Text: text("ảnh"), Attachments: []*outbox.AttachmentInput{{URL: "https://cdn.example.com/a.jpg", Kind: platform.Image}}})
	long := send(t, s, agent, conv, outbox.SendInput{Text: text(strings.Repeat("x", 1500)), Attachments: []*outbox.AttachmentInput{{URL: "https://cdn.example.com/b.jpg", Kind: platform.Image}}})
	img, long = settled(t, s, img.ID), settled(t, s, long.ID)
	sent = s.TG.Sent(token)
	if img.Status != message.StatusSENT || len(img.ExternalIds) != 1 || long.Status != message.StatusSENT || len(long.ExternalIds) != 2 || len(sent) != 4 ||
		sent[1].Method != "sendPhoto" || sent[1].Media != "https://cdn.example.com/a.jpg" || sent[1].Text != "ảnh" ||
		sent[2].Method != "sendPhoto" || sent[2].Text != "" || sent[3].Method != "sendMessage" || len(sent[3].Text) != 1500 {
		t.Fatalf("image %+v, long %+v, fake got %+v", img, long, sent)
	}
}

func TestSendMessengerAndItsEcho(t *testing.T) {
	s, agent := start(t, nil)
	conn, page := s.FacebookPage()
	conv := s.Customer(conn, testkit.Digits("24"), time.Now())
	psid := conv.QueryContact().OnlyX(testkit.Sys()).ExternalID

	m := settled(t, s, send(t, s, agent, conv, outbox.SendInput{Text: text("Chào bạn"), Attachments: []*outbox.AttachmentInput{{URL: "https://cdn.example.com/a.jpg", Kind: platform.Image}}}).ID)
	sends := s.Meta.Sends()
	if m.Status != message.StatusSENT || len(sends) != 2 || len(m.ExternalIds) != 2 || *m.ExternalID != sends[0].ID || m.ExternalIds[1] != sends[1].ID {
		t.Fatalf("message %+v, fake got %+v", m, sends)
	}
	for i, want := range []map[string]any{
		{"recipient": map[string]any{"id": psid}, "messaging_type": "RESPONSE", "message": map[string]any{"text": "Chào bạn"}},
		{"recipient": map[string]any{"id": psid}, "messaging_type": "RESPONSE", "message": map[string]any{"attachment": map[string]any{"type": "image", "payload": map[string]any{"url": "https://cdn.example.com/a.jpg", "is_reusable": true}}}},
	} {
		if got := sends[i]; !strings.HasSuffix(got.Path, "/"+page.ID+"/messages") || fmt.Sprint(got.Body) != fmt.Sprint(want) {
			t.Fatalf("send %d: %s %v, want %v", i, got.Path, got.Body, want)
		}
	}
	// Messenger echoes both parts back to the webhook: neither becomes a message.
	for _, mid := range m.ExternalIds {
		body := fmt.Appendf(nil, `{"object":"page","entry":[{"id":%q,"time":%d,"messaging":[{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,"message":{"is_echo":true,"mid":%q,"text":"Chào bạn"}}]}]}`,
			page.ID, time.Now().UnixMilli(), page.ID, psid, time.Now().UnixMilli(), mid)
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/webhooks/facebook", strings.NewReader(string(body)))
		req.Header.Set(graphapi.SignatureHeader, graphapi.Sign(fbAppSecret, body))
		resp, err := s.HC.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("echo: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	testkit.Eventually(t, "the echoes are processed", func() bool {
		return s.Client.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.ProcessedAtNotNil()).CountX(testkit.Sys()) == 2
	})
	if n := s.Client.Message.Query().Where(message.ConversationID(conv.ID)).CountX(testkit.Sys()); n != 2 {
		t.Fatalf("%d messages in the conversation, want the customer's and ours", n)
	}
}

func TestSendWhatsApp(t *testing.T) {
	s, agent := start(t, nil)
	conn, token := s.WhatsAppNumber()
	conv := s.Customer(conn, "84912345678", time.Now())
	m := settled(t, s, send(t, s, agent, conv, outbox.SendInput{Text: text("Hi"), Attachments: []*outbox.AttachmentInput{{URL: "https://cdn.example.com/a.pdf", Kind: platform.File}}}).ID)
	sends := s.Meta.Sends()
	want := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "84912345678", "type": "document",
		"document": map[string]any{"link": "https://cdn.example.com/a.pdf", "caption": "Hi"}}
	if m.Status != message.StatusSENT || len(sends) != 1 || sends[0].Authorization != "Bearer "+token || !strings.HasSuffix(sends[0].Path, "/"+conn.ExternalID+"/messages") ||
		fmt.Sprint(sends[0].Body) != fmt.Sprint(want) || *m.ExternalID != sends[0].ID {
		t.Fatalf("message %+v, fake got %+v", m, sends)
	}
}

func TestSendZaloUploadsFirst(t *testing.T) {
	s, agent := start(t, nil)
	conn := s.ZaloOA("oa-secret")
	conv := s.Customer(conn, testkit.Digits("77"), time.Now())
	srv := media(t)
	m := settled(t, s, send(t, s, agent, conv, outbox.SendInput{Attachments: []*outbox.AttachmentInput{{URL: srv.URL + "/photo.png", Kind: platform.Image}}}).ID)
	uploads, sends := s.Zalo.Uploads(), s.Zalo.Sends()
	if m.Status != message.StatusSENT || len(uploads) != 1 || uploads[0].Path != zalotest.PathUploadImage || string(uploads[0].Data) != "\x89PNG\r\n\x1a\n-test-image" ||
		len(sends) != 1 || sends[0].Path != zalotest.PathSendCS || *m.ExternalID != sends[0].MessageID ||
		!strings.Contains(fmt.Sprint(sends[0].Body), "attachment_id") {
		t.Fatalf("message %+v, uploads %+v, sends %+v", m, uploads, sends)
	}
	// Zalo sends images and files only.
	_, err := s.Outbox.Send(agent, outbox.SendInput{ConversationID: conv.ID, ClientMessageID: "v", Attachments: []*outbox.AttachmentInput{{URL: srv.URL + "/a.mp4", Kind: platform.Video}}})
	assertInput(t, err, "attachments.0.kind")
}

// A send that fails for a passing reason is tried again, really sent once.
func TestTransientFailuresAreRetried(t *testing.T) {
	s, agent := start(t, nil)
	conn, token, _ := s.TelegramBot()
	conv := s.Customer(conn, "4343", time.Now())
	s.TG.FailNext("sendMessage", 500, 500, "Internal Server Error", 0)
	s.TG.FailNext("sendMessage", 502, 502, "Bad Gateway", 0)
	m := send(t, s, agent, conv, outbox.SendInput{Text: text("third time lucky")})
	testkit.Eventually(t, "the first failure is recorded", func() bool {
		return s.Client.Message.GetX(testkit.Sys(), m.ID).Attempts >= 1 && s.Client.Message.GetX(testkit.Sys(), m.ID).Error != ""
	})
	m = settled(t, s, m.ID)
	if m.Status != message.StatusSENT || m.Attempts != 3 || len(s.TG.Sent(token)) != 1 {
		t.Fatalf("message %+v, %d deliveries", m, len(s.TG.Sent(token)))
	}
}

// Telegram's retry_after is honoured.
func TestRateLimitWaitsAsAsked(t *testing.T) {
	s, agent := start(t, nil)
	conn, token, _ := s.TelegramBot()
	conv := s.Customer(conn, "4444", time.Now())
	s.TG.FailNext("sendMessage", 429, 429, "Too Many Requests: retry after 3", 3)
	m := send(t, s, agent, conv, outbox.SendInput{Text: text("slow down")})
	var failed *ent.Message
	testkit.Eventually(t, "the rate limit is recorded", func() bool {
		failed = s.Client.Message.GetX(testkit.Sys(), m.ID)
		return failed.Attempts == 1 && failed.ClaimedAt == nil && failed.NextAttemptAt != nil
	})
	if wait := failed.NextAttemptAt.Sub(failed.UpdatedAt); wait < 3*time.Second-100*time.Millisecond || !strings.Contains(failed.Error, "retry after") {
		t.Fatalf("next attempt %v after the failure (%q), want at least retry_after", wait, failed.Error)
	}
	if m = settled(t, s, m.ID); m.Status != message.StatusSENT || len(s.TG.Sent(token)) != 1 {
		t.Fatalf("message %+v", m)
	}
}

// A dead token fails the message and puts the connection into ERROR; a
// permanent refusal fails at once; retryMessage really sends again.
func TestFailuresAndRetry(t *testing.T) {
	s, agent := start(t, nil)
	conn, token, _ := s.TelegramBot()
	conv := s.Customer(conn, "4545", time.Now())

	s.TG.Block(token, 4545)
	m := settled(t, s, send(t, s, agent, conv, outbox.SendInput{Text: text("blocked")}).ID)
	if m.Status != message.StatusFAILED || m.Attempts != 1 || !strings.Contains(m.Error, "blocked") {
		t.Fatalf("blocked = %+v", m)
	}
	if c := s.Client.Connection.GetX(testkit.Sys(), conn.ID); c.Status != connection.StatusACTIVE {
		t.Fatalf("a blocked chat put the connection into %s", c.Status)
	}
	// The customer unblocks the bot: retry sends for real.
	s.TG.Unblock(token, 4545)
	if _, err := s.Outbox.Retry(agent, m.ID); err != nil {
		t.Fatal(err)
	}
	if m = settled(t, s, m.ID); m.Status != message.StatusSENT || m.Attempts != 1 || len(s.TG.Sent(token)) != 1 {
		t.Fatalf("retried = %+v, %d deliveries", m, len(s.TG.Sent(token)))
	}
	if _, err := s.Outbox.Retry(agent, m.ID); !errors.Is(err, apperr.ErrFailedPrecondition) {
		t.Fatalf("retrying a SENT message: %v", err)
	}

	s.TG.RevokeBot(token)
	m = settled(t, s, send(t, s, agent, conv, outbox.SendInput{Text: text("dead token")}).ID)
	c := s.Client.Connection.GetX(testkit.Sys(), conn.ID)
	if m.Status != message.StatusFAILED || c.Status != connection.StatusERROR || !strings.Contains(c.StatusReason, "Telegram") {
		t.Fatalf("after a dead token: message %+v, connection %s %q", m, c.Status, c.StatusReason)
	}
	// No more sends on a connection in ERROR.
	_, err := s.Outbox.Send(agent, outbox.SendInput{ConversationID: conv.ID, Text: text("x"), ClientMessageID: "after-error"})
	if !errors.Is(err, apperr.ErrFailedPrecondition) {
		t.Fatalf("sending on a connection in ERROR: %v", err)
	}
}

// A double click sends once.
func TestSameClientMessageIDSendsOnce(t *testing.T) {
	s, agent := start(t, nil)
	conn, token, _ := s.TelegramBot()
	conv := s.Customer(conn, "4646", time.Now())
	a := send(t, s, agent, conv, outbox.SendInput{Text: text("once"), ClientMessageID: "click-1"})
	b := send(t, s, agent, conv, outbox.SendInput{Text: text("once"), ClientMessageID: "click-1"})
	if a.ID != b.ID {
		t.Fatalf("two messages for one clientMessageID: %s, %s", a.ID, b.ID)
	}
	settled(t, s, a.ID)
	if n := len(s.TG.Sent(token)); n != 1 {
		t.Fatalf("%d deliveries", n)
	}
}

// With two workers, a conversation's messages reach the platform in order.
func TestOrderWithinAConversation(t *testing.T) {
	s, agent := start(t, map[string]string{"OUTBOX_WORKERS": "2"})
	conn, token, _ := s.TelegramBot()
	convs := []*ent.Conversation{s.Customer(conn, "4747", time.Now()), s.Customer(conn, "4748", time.Now())}
	// The first message of one conversation fails once: the others behind it wait.
	s.TG.FailNext("sendMessage", 500, 500, "Internal Server Error", 0)
	var last []*ent.Message
	for i := range 12 {
		last = append(last, send(t, s, agent, convs[i%2], outbox.SendInput{Text: text(fmt.Sprint(i))}))
	}
	for _, m := range last {
		settled(t, s, m.ID)
	}
	got := map[int64][]string{}
	for _, sm := range s.TG.Sent(token) {
		got[sm.ChatID] = append(got[sm.ChatID], sm.Text)
	}
	if strings.Join(got[4747], ",") != "0,2,4,6,8,10" || strings.Join(got[4748], ",") != "1,3,5,7,9,11" {
		t.Fatalf("delivered %v", got)
	}
}

// What cannot be sent is refused before anything is stored.
func TestValidation(t *testing.T) {
	s, agent := start(t, map[string]string{"OUTBOX_WORKERS": "0"})
	tg, _, _ := s.TelegramBot()
	conv := s.Customer(tg, "4848", time.Now())
	img := func(url string, kind platform.MediaKind) []*outbox.AttachmentInput {
		return []*outbox.AttachmentInput{{URL: url, Kind: kind}}
	}
	for _, tc := range []struct {
		name  string
		in    outbox.SendInput
		field string
	}{
		{"nothing", outbox.SendInput{Text: text("  ")}, "text"},
		{"too long", outbox.SendInput{Text: text(strings.Repeat("a", 4097))}, "text"},
		{"two attachments", outbox.SendInput{Attachments: append(img("https://a/x.jpg", platform.Image), img("https://a/y.jpg", platform.Image)...)}, "attachments"},
		{"not http", outbox.SendInput{Attachments: img("file:///etc/passwd", platform.Image)}, "attachments.0.url"},
		{"no client id", outbox.SendInput{Text: text("x"), ClientMessageID: " "}, "clientMessageID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.ConversationID = conv.ID
			if tc.in.ClientMessageID == "" {
				tc.in.ClientMessageID = testkit.Digits("v")
			}
			_, err := s.Outbox.Send(agent, tc.in)
			assertInput(t, err, tc.field)
		})
	}
	// Messenger's 24-hour window, explained.
	page, _ := s.FacebookPage()
	stale := s.Customer(page, testkit.Digits("24"), time.Now().Add(-25*time.Hour))
	_, err := s.Outbox.Send(agent, outbox.SendInput{ConversationID: stale.ID, Text: text("late"), ClientMessageID: "late"})
	var ae *apperr.Error
	if !errors.As(err, &ae) || !errors.Is(err, apperr.ErrFailedPrecondition) || !strings.Contains(ae.Msg, "24") {
		t.Fatalf("outside the window: %v", err)
	}
	if n := s.Client.Message.Query().Where(message.DirectionEQ(message.DirectionOUTBOUND), message.ConversationIDIn(conv.ID, stale.ID)).CountX(testkit.Sys()); n != 0 {
		t.Fatalf("%d refused messages were stored", n)
	}
}

func assertInput(t *testing.T, err error, field string) {
	t.Helper()
	var in *apperr.InputError
	if !errors.As(err, &in) || in.Field != field {
		t.Fatalf("error %v, want an input error on %s", err, field)
	}
}

// A PENDING message can be canceled; a sent one cannot.
func TestCancel(t *testing.T) {
	s, agent := start(t, map[string]string{"OUTBOX_WORKERS": "0"})
	conn, token, _ := s.TelegramBot()
	conv := s.Customer(conn, "4949", time.Now())
	m := send(t, s, agent, conv, outbox.SendInput{Text: text("never mind")})
	if c, err := s.Outbox.Cancel(agent, m.ID); err != nil || c.Status != message.StatusCANCELED {
		t.Fatalf("cancel = %+v, %v", c, err)
	}
	if did, err := s.Outbox.SendNext(context.Background()); err != nil || did {
		t.Fatalf("a canceled message was picked up: %v %v", did, err)
	}
	if len(s.TG.Sent(token)) != 0 {
		t.Fatal("a canceled message was sent")
	}
	in := s.Client.Message.Query().Where(message.ConversationID(conv.ID), message.DirectionEQ(message.DirectionINBOUND)).OnlyX(testkit.Sys())
	if _, err := s.Outbox.Cancel(agent, in.ID); !errors.Is(err, apperr.ErrFailedPrecondition) {
		t.Fatalf("canceling an inbound message: %v", err)
	}
}

// Receipts move a sent message forward, also when they name the second
// platform message of a send that took two (WhatsApp audio takes no caption).
func TestReceiptsOfEveryPart(t *testing.T) {
	s, agent := start(t, nil)
	conn, _ := s.WhatsAppNumber()
	conv := s.Customer(conn, "16505551234", time.Now())
	m := settled(t, s, send(t, s, agent, conv, outbox.SendInput{Text: text("nghe nhé"), Attachments: []*outbox.AttachmentInput{{URL: "https://cdn.example.com/a.ogg", Kind: platform.Audio}}}).ID)
	if m.Status != message.StatusSENT || len(m.ExternalIds) != 2 {
		t.Fatalf("message %+v", m)
	}
	body := testkit.Fixture(t, "whatsapp", "status_delivered.json", "106540352242922", conn.ExternalID,
		"wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI2QjU1RjdGNTQ4QjlGMDVBODYA", m.ExternalIds[1], "1739322003", fmt.Sprint(time.Now().Unix()))
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/webhooks/whatsapp", strings.NewReader(string(body)))
	req.Header.Set(graphapi.SignatureHeader, graphapi.Sign(fbAppSecret, body))
	resp, err := s.HC.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status webhook: %v %v", err, resp)
	}
	resp.Body.Close()
	testkit.Eventually(t, "the receipt moves the message to DELIVERED", func() bool {
		return s.Client.Message.GetX(testkit.Sys(), m.ID).Status == message.StatusDELIVERED
	})
}

// Zalo's -216 is tried once more after renewing the token.
func TestZaloRenewsADeadTokenOnce(t *testing.T) {
	s, agent := start(t, nil)
	conn := s.ZaloOA("oa-secret")
	conv := s.Customer(conn, testkit.Digits("77"), time.Now())
	s.Zalo.FailNextError(zalotest.PathSendCS, 200, -216, "Access token is invalid")
	m := settled(t, s, send(t, s, agent, conv, outbox.SendInput{Text: text("xin chào")}).ID)
	if m.Status != message.StatusSENT || s.Zalo.Refreshes() != 1 || m.Attempts != 1 {
		t.Fatalf("message %+v after %d refreshes", m, s.Zalo.Refreshes())
	}
	if c := s.Client.Connection.GetX(testkit.Sys(), conn.ID); c.Status != connection.StatusACTIVE {
		t.Fatalf("connection %s", c.Status)
	}
}

// testConnection(sendTo) sends a real message through the outbox and says
// how it went.
func TestProbe(t *testing.T) {
	s, agent := start(t, nil)
	conn, token, _ := s.TelegramBot()
	conv := s.Customer(conn, "5050", time.Now())
	if c := s.Outbox.Probe(agent, conn.ID, conv.ID); !c.OK || c.Name != "message sent" || len(s.TG.Sent(token)) != 1 {
		t.Fatalf("probe = %+v", c)
	}
	s.TG.Block(token, 5050)
	if c := s.Outbox.Probe(agent, conn.ID, conv.ID); c.OK || !strings.Contains(c.Detail, "blocked") {
		t.Fatalf("probe of a blocked chat = %+v", c)
	}
	other, _, _ := s.TelegramBot()
	if c := s.Outbox.Probe(agent, other.ID, conv.ID); c.OK {
		t.Fatalf("probe through another connection's conversation = %+v", c)
	}
}

// Idle workers wait for work: after a send, two workers with nothing left
// make a poll's worth of claims, not a loop of them. They used to hand one
// wake-up back and forth for ever.
func TestIdleWorkersWait(t *testing.T) {
	s, agent := start(t, map[string]string{"OUTBOX_WORKERS": "2"})
	conn, _, _ := s.TelegramBot()
	conv := s.Customer(conn, "4949", time.Now())
	settled(t, s, send(t, s, agent, conv, outbox.SendInput{Text: text("hello")}).ID)
	before := s.Outbox.Claims()
	time.Sleep(time.Second)
	if n := s.Outbox.Claims() - before; n > 200 {
		t.Fatalf("%d claims in a second with nothing to send", n)
	}
}
