package webhooks_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/webhooks"
)

// A disconnect is refused at once, though routes are cached for an hour: the
// change itself drops the cached route.
func TestDisconnectTakesEffectAtOnce(t *testing.T) {
	s := newStack(t, stackOptions{routeTTL: time.Hour})
	conn, secret := s.telegramBot()
	path := "/webhooks/telegram/" + string(conn.ID)
	signed := map[string]string{telegram.SecretHeader: secret}
	chat := uniqueDigits("7")
	if r := s.post(path, signed, update(31001, chat, time.Now().Unix(), "before")); r.status != 200 {
		t.Fatalf("before the disconnect: %d", r.status)
	}
	if _, err := s.conns.Disconnect(s.admin, conn.ID); err != nil {
		t.Fatal(err)
	}
	if r := s.post(path, signed, update(31002, chat, time.Now().Unix(), "after")); r.status != http.StatusGone {
		t.Fatalf("right after the disconnect: %d, want 410", r.status)
	}
	if n := s.journaled(conn, "update:31002"); n != 0 {
		t.Fatalf("journaled %d events after the disconnect", n)
	}
}

// Replicas learn of changes made on another through the event log: a
// disconnect there is refused here, and an account connected there is
// routed here, though both replicas cache routes for an hour.
func TestConnectionChangesReachOtherReplicas(t *testing.T) {
	a := newStack(t, stackOptions{routeTTL: time.Hour})
	b := newStack(t, stackOptions{routeTTL: time.Hour, key: a.Key})

	conn, secret := a.telegramBot()
	path := "/webhooks/telegram/" + string(conn.ID)
	signed := map[string]string{telegram.SecretHeader: secret}
	chat := uniqueDigits("7")
	if r := b.post(path, signed, update(32001, chat, time.Now().Unix(), "before")); r.status != 200 {
		t.Fatalf("before the disconnect: %d", r.status)
	}
	if _, err := a.conns.Disconnect(a.admin, conn.ID); err != nil {
		t.Fatal(err)
	}
	id := int64(32002)
	testkit.Eventually(t, "the other replica refuses the disconnected connection", func() bool {
		id++
		return b.post(path, signed, update(id, chat, time.Now().Unix(), "after")).status == http.StatusGone
	})

	// b follows the log now. A Zalo event of an OA not connected is dropped,
	// so what b journals for the OA it routed itself.
	oa := zalo.OA{ID: uniqueDigits("38"), Name: "Replica OA"}
	user := uniqueDigits("24")
	event := func(msgID string) []byte {
		return zaloFixture(t, "user_send_text.json", "388613280878808645", oa.ID, "246845883529197922", user, "96d3cdf3af150460909", msgID)
	}
	if r := b.post("/webhooks/zalo", signedZalo(t, event("before-"+user), oaSecret), event("before-"+user)); r.status != 200 {
		t.Fatalf("before the connect: %d", r.status)
	}
	oaConn := a.ConnectZaloOA(oa, oaSecret)
	n := 0
	testkit.Eventually(t, "the other replica routes to the new connection", func() bool {
		n++
		body := event(fmt.Sprintf("after-%s-%d", user, n))
		b.post("/webhooks/zalo", signedZalo(t, body, oaSecret), body)
		return b.journaled(oaConn, fmt.Sprintf("msg:after-%s-%d", user, n)) == 1
	})
}

// messengerText is a Messenger text event for a page from a customer.
func messengerText(t testing.TB, pageID, psid, mid, text string) []byte {
	return testkit.Fixture(t, "facebook", "text.json", "682498302938465", pageID, "1254459154682919", psid,
		"mid.1457764197618:41d102a3e1ae206a38", mid, "hello, world!", text)
}

func metaSigned(body []byte) map[string]string {
	return map[string]string{graphapi.SignatureHeader: graphapi.Sign(fbAppSecret, body)}
}

// Meta delivers a page's events as soon as the page is subscribed, which a
// connect does before it commits: those events, journaled as unroutable,
// are processed once the connection exists, and the connection is routed to
// at once. An older one is processed when replayed.
func TestEventsBeforeTheConnectionAreProcessed(t *testing.T) {
	s := newStack(t, stackOptions{routeTTL: time.Hour})
	page := testapp.NewFacebookPage()
	psid := uniqueDigits("12")
	send := func(mid, text string) {
		t.Helper()
		body := messengerText(t, page.ID, psid, mid, text)
		if r := s.post("/webhooks/facebook", metaSigned(body), body); r.status != 200 {
			t.Fatalf("%s: %d", text, r.status)
		}
	}
	send("mid.old-"+page.ID, "sent two hours before")
	old := s.db.WebhookEvent.Query().Where(webhookevent.DedupKey("mid:mid.old-" + page.ID)).OnlyX(sys())
	if old.ConnectionID != nil || old.Account == nil || *old.Account != page.ID {
		t.Fatalf("the early event was journaled for connection %v, account %v; want none, the page", old.ConnectionID, old.Account)
	}
	if _, err := s.sqlDB.Exec(`UPDATE webhook_events SET received_at = now() - interval '2 hours' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	send("mid.early-"+page.ID, "sent before the connect")

	conn := s.ConnectFacebookPage(page)
	send("mid.late-"+page.ID, "sent right after the connect")
	if n := s.journaled(conn, "mid:mid.late-"+page.ID); n != 1 {
		t.Fatal("an event right after the connect was not routed to the connection: was \"not connected\" still cached?")
	}
	testkit.Eventually(t, "both messages", func() bool { return len(s.messages(conn)) == 2 })
	if got := texts(s.messages(conn)); got[0] != "sent before the connect" || got[1] != "sent right after the connect" {
		t.Fatalf("messages %q", got)
	}
	if ev := s.db.WebhookEvent.GetX(sys(), old.ID); ev.ConnectionID != nil {
		t.Fatalf("an event older than %s was routed without a replay", time.Hour)
	}

	// replayWebhookEvent: the event is routed to the connection, then applied.
	if _, err := s.conns.WebhookEvent(s.admin, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.proc.Process(sys(), old.ID); err != nil {
		t.Fatal(err)
	}
	if got := texts(s.messages(conn)); len(got) != 3 || got[0] != "sent two hours before" {
		t.Fatalf("messages after the replay %q", got)
	}
}

// A Zalo app has one webhook URL for all its OAs: the event's OA routes it,
// whichever connection the path names.
func TestZaloRoutesByTheEventsOA(t *testing.T) {
	s := newStack(t, stackOptions{})
	first, second := s.ZaloOA("first-oa-secret"), s.ZaloOA("second-oa-secret")
	body := zaloFixture(t, "user_send_text.json", "388613280878808645", second.ExternalID, "246845883529197922", uniqueDigits("24"))
	if r := s.post("/webhooks/zalo/"+string(first.ID), signedZalo(t, body, "second-oa-secret"), body); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	testkit.Eventually(t, "the second OA's message", func() bool { return len(s.messages(second)) == 1 })
	if n := s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(first.ID)).CountX(sys()); n != 0 {
		t.Fatalf("%d events journaled for the OA the path names", n)
	}
}

// Correctly signed Zalo events that are replays are refused: one sent for
// another app, one older than Zalo retries, and one that was journaled
// before the OA was reconnected.
func TestZaloReplaysAreRefused(t *testing.T) {
	s := newStack(t, stackOptions{})
	oa := zalo.OA{ID: uniqueDigits("38"), Name: "Replayed OA"}
	conn := s.ConnectZaloOA(oa, oaSecret)
	user := uniqueDigits("24")
	event := func(msgID, appID string, at time.Time) []byte {
		return stamped(testkit.Fixture(t, "zalo", "user_send_text.json", "388613280878808645", oa.ID, "246845883529197922", user,
			"96d3cdf3af150460909", msgID, "360846524940903967", appID), at)
	}
	send := func(body []byte) int { return s.post("/webhooks/zalo", signedZalo(t, body, oaSecret), body).status }
	rejections := func() int64 { return s.db.Connection.GetX(sys(), conn.ID).WebhookErrorCount }
	before := rejections()

	if st := send(event("other-app-"+user, "1111111111111111111", time.Now())); st != http.StatusUnauthorized {
		t.Fatalf("another app's event: %d, want 401", st)
	}
	if st := send(event("stale-"+user, zaloAppID, time.Now().Add(-25*time.Hour))); st != http.StatusBadRequest {
		t.Fatalf("an event older than ZALO_MAX_EVENT_AGE: %d, want 400", st)
	}
	testkit.Eventually(t, "both rejections counted", func() bool { return rejections() == before+2 })
	if st := send(event("retried-"+user, zaloAppID, time.Now().Add(-11*time.Hour))); st != 200 {
		t.Fatalf("an event Zalo may still be retrying: %d", st)
	}
	for _, key := range []string{"msg:other-app-" + user, "msg:stale-" + user} {
		if n := s.journaled(conn, key); n != 0 {
			t.Fatalf("%s journaled", key)
		}
	}

	first := event("before-reconnect-"+user, zaloAppID, time.Now())
	if st := send(first); st != 200 {
		t.Fatalf("status %d", st)
	}
	testkit.Eventually(t, "the message", func() bool { return len(s.messages(conn)) == 2 })
	if _, err := s.conns.Disconnect(s.admin, conn.ID); err != nil {
		t.Fatal(err)
	}
	again := s.ConnectZaloOA(oa, oaSecret)
	if st := send(first); st != 200 {
		t.Fatalf("the replay across the reconnect: %d, want 200 (a redelivery)", st)
	}
	if n := s.journaled(again, "msg:before-reconnect-"+user); n != 0 {
		t.Fatal("an event journaled before the reconnect was journaled again for the new connection")
	}
}

// A flood of made-up ids costs a bounded number of database lookups, is
// answered 429 beyond them, and pushes out no real connection's route.
func TestFloodOfUnknownIds(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	var lookups atomic.Int64
	client := dbtest.Client(t, func(d dialect.Driver) dialect.Driver {
		return dialect.DebugWithContext(d, func(_ context.Context, args ...any) {
			if strings.Contains(fmt.Sprint(args...), `FROM "connections"`) {
				lookups.Add(1)
			}
		})
	})
	const burst, perSecond = 50, 10
	h := webhooks.New(webhooks.Options{Client: client, Journal: s.jr, Connections: s.conns, Platforms: s.Platforms,
		Health: s.Health, Logger: testkit.Logger(nil), RouteCacheTTL: time.Hour, MaxMisses: 20,
		UnknownLookups: perSecond, UnknownBurst: burst})
	mux := http.NewServeMux()
	h.Register(mux)
	post := func(id pulid.ID, n int64) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/telegram/"+string(id),
			bytes.NewReader(update(n, "1111111", time.Now().Unix(), "hi")))
		req.Header.Set(telegram.SecretHeader, secret)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w
	}
	if w := post(conn.ID, 33000); w.Code != 200 || lookups.Load() != 1 {
		t.Fatalf("the bot: %d after %d lookups", w.Code, lookups.Load())
	}

	start := time.Now()
	var limited int
	var missed pulid.ID // the last made-up id looked up
	for i := range 2000 {
		id := pulid.New("con")
		w := post(id, int64(i))
		switch w.Code {
		case http.StatusNotFound:
			missed = id
		case http.StatusTooManyRequests:
			if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
				t.Fatalf("429 with Retry-After %q", w.Header().Get("Retry-After"))
			}
			limited++
		default:
			t.Fatalf("a made-up id: %d", w.Code)
		}
	}
	allowed := burst + int64(time.Since(start).Seconds()*perSecond) + 1
	if n := lookups.Load() - 1; n > allowed || limited == 0 {
		t.Fatalf("2000 made-up ids cost %d lookups (at most %d allowed) and %d were limited", n, allowed, limited)
	}

	flooded := lookups.Load()
	if w := post(conn.ID, 33001); w.Code != 200 {
		t.Fatalf("the bot after the flood: %d", w.Code)
	}
	if w := post(missed, 33002); w.Code != http.StatusNotFound {
		t.Fatalf("the last made-up id looked up, again: %d", w.Code)
	}
	if n := lookups.Load() - flooded; n != 0 {
		t.Fatalf("%d lookups after the flood: the bot's route, or the last miss, was forgotten", n)
	}
	if n := s.journaled(conn, "update:33001"); n != 1 {
		t.Fatalf("the bot's update after the flood was journaled %d times", n)
	}
}
