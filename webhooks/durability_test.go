package webhooks_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/journal"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/webhooks"
)

// unreachable is a database nobody listens on.
func unreachable(t *testing.T) *sql.DB {
	db, err := sql.Open("postgres", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// When the journal cannot commit, the platform hears 503 and retries;
// nothing is acknowledged that is not stored.
func TestDatabaseDownAnswers503(t *testing.T) {
	t.Run("journal unreachable", func(t *testing.T) {
		s := newStack(t, stackOptions{journalDB: unreachable(t)})
		conn, secret := s.telegramBot()
		r := s.post("/webhooks/telegram/"+string(conn.ID), map[string]string{telegram.SecretHeader: secret}, update(1, "42", 1, "lost?"))
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", r.status)
		}
	})
	t.Run("connection lookup unreachable", func(t *testing.T) {
		s := newStack(t, stackOptions{})
		conn, secret := s.telegramBot()
		broken := ent.NewClient(ent.Driver(entsql.OpenDB("postgres", unreachable(t))))
		mux := http.NewServeMux()
		webhooks.New(webhooks.Options{Client: broken, Journal: journal.New(unreachable(t), testkit.Logger(nil), journal.Options{}),
			Connections: s.conns, Platforms: s.Platforms, Health: s.Health, Logger: testkit.Logger(nil)}).Register(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		for _, tc := range []struct {
			path   string
			header map[string]string
			body   []byte
		}{
			{"/webhooks/telegram/" + string(conn.ID), map[string]string{telegram.SecretHeader: secret}, update(2, "42", 1, "x")},
			{"/webhooks/facebook", map[string]string{graphapi.SignatureHeader: graphapi.Sign(fbAppSecret, testkit.Fixture(t, "facebook", "text.json"))}, testkit.Fixture(t, "facebook", "text.json")},
		} {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(string(tc.body)))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%s: %d, want 503 with Retry-After", tc.path, resp.StatusCode)
			}
		}
	})
}

// Events journaled by a process that died before processing them are
// processed by the next one.
func TestBacklogIsProcessedAfterRestart(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	for i, text := range []string{"one", "two", "three"} {
		if r := s.post("/webhooks/telegram/"+string(conn.ID), map[string]string{telegram.SecretHeader: secret}, update(int64(500+i), "4242", int64(1700000000+i), text)); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	if n := s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.ProcessedAtIsNil()).CountX(sys()); n != 3 || len(s.messages(conn)) != 0 {
		t.Fatalf("%d unprocessed, %d messages: want 3 and 0 before the restart", n, len(s.messages(conn)))
	}
	// The "restarted" process: workers over the same database.
	newStack(t, stackOptions{})
	testkit.Eventually(t, "the backlog is processed", func() bool { return len(s.messages(conn)) == 3 })
	if got := texts(s.messages(conn)); strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("messages = %v", got)
	}
}

// A poisoned event (one no retry can cure: its payload does not decode) is
// failed at once and shows its error; the events behind it go through, and
// a replay tries it again.
func TestPoisonedEventDoesNotBlock(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	// A journal entry whose payload cannot be decoded (as if the adapter's
	// rules changed after journaling).
	poison := s.db.WebhookEvent.Create().SetPlatform(conn.Platform).SetConnectionID(conn.ID).SetCampaignID(conn.CampaignID).
		SetEventType("message").SetDedupKey("update:-1").SetPayload([]byte(`{"update_id":-1,"message":{"message_id":1}}`)).SaveX(sys())
	if r := s.post("/webhooks/telegram/"+string(conn.ID), map[string]string{telegram.SecretHeader: secret}, update(600, "4343", 1700000000, "after the poison")); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	testkit.Eventually(t, "the healthy event is processed", func() bool { return len(s.messages(conn)) == 1 })
	testkit.Eventually(t, "the poison's failure is recorded", func() bool { return s.db.WebhookEvent.GetX(sys(), poison.ID).Attempts >= 1 })
	p := s.db.WebhookEvent.GetX(sys(), poison.ID)
	if p.ProcessedAt != nil || p.FailedAt == nil || p.Error == "" || p.NextAttemptAt != nil || p.Attempts != 1 {
		t.Fatalf("poisoned entry = %+v, want failed at once", p)
	}
	testkit.Eventually(t, "connection health shows the failure", func() bool {
		c := s.db.Connection.GetX(sys(), conn.ID)
		return c.WebhookErrorCount > 0 && strings.Contains(c.WebhookLastError, "processing")
	})
	// A replay tries again; it still fails, and says so.
	if p, err := s.proc.Process(sys(), poison.ID); err != nil || p.FailedAt == nil || p.Attempts != 2 || p.Error == "" {
		t.Fatalf("replayed poison = %+v, %v", p, err)
	}
	// Replaying a processed event changes nothing.
	healthy := s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.DedupKey("update:600")).OnlyX(sys())
	if _, err := s.proc.Process(sys(), healthy.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(s.messages(conn)); n != 1 {
		t.Fatalf("replay added messages: %d", n)
	}
}

// testWebhook sends a signed synthetic event through the public URL; it
// reaches the journal and creates no conversation.
func TestTestWebhook(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg, _ := s.telegramBot()
	for name, conn := range map[string]*ent.Connection{"telegram": tg, "facebook": s.facebookPage(), "whatsapp": s.whatsappNumber(), "zalo": s.zaloOA()} {
		t.Run(name, func(t *testing.T) {
			res, err := s.conns.TestWebhook(s.admin, conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK || res.Status != 200 || res.Error != nil {
				t.Fatalf("testWebhook = %+v (error %v)", res, deref(res.Error))
			}
			testkit.Eventually(t, "the test event is processed", func() bool {
				return !s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.ProcessedAtIsNil()).ExistX(sys())
			})
			if n := s.db.Conversation.Query().Where(conversation.ConnectionID(conn.ID)).CountX(sys()); n != 0 {
				t.Fatalf("a test event opened %d conversations", n)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// An idle processor waits: once the journal is drained, a worker claims
// again only when woken by a new entry or at its poll (50 ms in tests), not
// in a loop (a lone worker once woke itself forever, taking most of a core).
func TestIdleProcessingWaits(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	if r := s.post("/webhooks/telegram/"+string(conn.ID), map[string]string{telegram.SecretHeader: secret}, update(1, "4242", 1700000001, "hi")); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	testkit.Eventually(t, "the message is applied", func() bool { return s.pending(conn) == 0 })
	before := s.proc.Claims()
	time.Sleep(time.Second)
	// About 20 polls a second; a busy loop makes thousands of claims.
	if n := s.proc.Claims() - before; n > 100 {
		t.Fatalf("%d claims in a second with nothing to process", n)
	}
}

// Several workers, in two replicas, share the journal without deadlocking
// and without reordering a conversation. Batches of the same customers used
// to lock their contacts and conversations in whatever order the batch held
// them: two workers then deadlocked every few batches, and each deadlock
// cost the events of both batches a retry a second later. Then claims were
// made one at a time, within a replica only. Now each customer's events
// queue in one lane, which one transaction at a time holds, in any replica:
// each conversation's messages reach the event log in the order they were
// journaled, and workers on other lanes do not wait for them.
func TestConcurrentWorkersNeitherDeadlockNorReorder(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	replica := newStack(t, stackOptions{noProcessing: true, key: s.Key})
	conn, secret := s.telegramBot()
	path := "/webhooks/telegram/" + string(conn.ID)
	signed := map[string]string{telegram.SecretHeader: secret}
	const chats, perChat = 24, 40
	prefix := uniqueDigits("77")
	// Journaled one at a time, so journal order is update order: the
	// customers interleave, as they do in a busy campaign.
	for i := range chats * perChat {
		chat := fmt.Sprintf("%s%02d", prefix, i%chats)
		if r := s.post(path, signed, update(int64(i+1), chat, 1700000000+int64(i), fmt.Sprint(i))); r.status != 200 {
			t.Fatalf("update %d: status %d", i, r.status)
		}
	}
	ctx, cancel := context.WithCancel(sys())
	var wg sync.WaitGroup
	for _, p := range []*ingest.Processor{s.proc, replica.proc} {
		wg.Go(func() { p.Run(ctx, 2, 20*time.Millisecond) })
		p.Wake()
	}
	testkit.Eventually(t, "the journal drains", func() bool { return s.pending(conn) == 0 })
	cancel()
	wg.Wait()

	retried := s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.AttemptsGT(1)).AllX(sys())
	if len(retried) > 0 {
		t.Errorf("%d of %d events needed a retry; the first: %+v", len(retried), chats*perChat, retried[0])
	}
	if n := len(s.messages(conn)); n != chats*perChat {
		t.Fatalf("%d messages stored, want %d", n, chats*perChat)
	}
	// Per conversation, the log's messageAdded order is the messages' order.
	rows, err := s.sqlDB.QueryContext(sys(), `SELECT d.conversation_id, m.text FROM domain_events d JOIN messages m ON m.id = d.entity_id
		WHERE d.type = 'MESSAGE_ADDED' AND m.connection_id = $1 ORDER BY d.xid, d.id`, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	last := map[string]int{}
	for rows.Next() {
		var conv, text string
		if err := rows.Scan(&conv, &text); err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(text)
		if prev, ok := last[conv]; ok && n < prev {
			t.Errorf("conversation %s: message %d reached the log after %d", conv, n, prev)
		}
		last[conv] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// A lane held by another transaction (a worker of another replica applying
// that customer's earlier events) is left to it: the others' events go
// ahead, and the held customer's wait, in order, until the lane is free.
func TestALaneIsAppliedByOneTransactionAtATime(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	path := "/webhooks/telegram/" + string(conn.ID)
	signed := map[string]string{telegram.SecretHeader: secret}
	prefix := uniqueDigits("78")
	lane := func(chat string) int { return int(journal.Lane(chat, "")) }
	held, free := prefix+"0", ""
	for i := 1; free == ""; i++ {
		if c := fmt.Sprintf("%s%d", prefix, i); lane(c) != lane(held) {
			free = c
		}
	}
	for i, chat := range []string{held, free, held, free} {
		if r := s.post(path, signed, update(int64(i+1), chat, 1700000000+int64(i), fmt.Sprint(i))); r.status != 200 {
			t.Fatalf("update %d: status %d", i, r.status)
		}
	}
	var stored int
	if err := s.sqlDB.QueryRowContext(sys(), `SELECT count(*) FROM webhook_events WHERE connection_id = $1 AND lane = $2`,
		conn.ID, lane(held)).Scan(&stored); err != nil || stored != 2 {
		t.Fatalf("%d events journaled in the held customer's lane, want 2 (%v)", stored, err)
	}

	other, err := s.sqlDB.BeginTx(sys(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback() //nolint:errcheck // the end of the test releases the lane if the test did not
	if _, err := other.ExecContext(sys(), "SELECT pg_advisory_xact_lock($1, $2)", ingest.LaneLocks, lane(held)); err != nil {
		t.Fatal(err)
	}
	s.drain()
	applied := func() []string { return slices.Sorted(slices.Values(texts(s.messages(conn)))) }
	if got := applied(); !slices.Equal(got, []string{"1", "3"}) {
		t.Fatalf("with the lane of %s held, messages %v were applied; want only the other customer's 1 and 3", held, got)
	}
	if err := other.Rollback(); err != nil {
		t.Fatal(err)
	}
	if did, err := s.proc.ProcessNext(sys()); err != nil || !did {
		t.Fatalf("the freed lane was not claimed: %v, %v", did, err)
	}
	if got := applied(); !slices.Equal(got, []string{"0", "1", "2", "3"}) {
		t.Fatalf("after the lane was freed, messages %v; want all four", got)
	}
}
