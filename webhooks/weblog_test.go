package webhooks_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/health"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/webhooks"
)

// rejected returns a connection's log rows for requests answered with status.
func (s *stack) rejected(conn *ent.Connection, status int) []*ent.WebhookEvent {
	return s.db.WebhookEvent.Query().
		Where(webhookevent.ConnectionID(conn.ID), webhookevent.ResponseStatus(status)).
		AllX(sys())
}

// The webhook log is the whole truth: a request refused at a connection's
// URL is in its log with the status answered and why, stored as processed
// (never queued), with only the start of its body.
func TestRejectedRequestsAreLogged(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	path := "/webhooks/telegram/" + string(conn.ID)
	signed := map[string]string{telegram.SecretHeader: secret}

	if r := s.post(path, map[string]string{telegram.SecretHeader: "forged"}, update(1, "4242", 1700000000, "forged")); r.status != 401 {
		t.Fatalf("forged: status %d", r.status)
	}
	huge := append([]byte(`{"update_id":2,"message":{"text":"`), bytes.Repeat([]byte("x"), webhooks.MaxBody)...)
	if r := s.post(path, signed, huge); r.status != 413 {
		t.Fatalf("oversize: status %d", r.status)
	}
	if r := s.post(path, signed, []byte(`{"update_id": 3, "message": `)); r.status != 400 {
		t.Fatalf("malformed: status %d", r.status)
	}
	for _, want := range []struct {
		status int
		reason string
	}{{401, "secret"}, {413, "over"}, {400, ""}} {
		var rows []*ent.WebhookEvent
		testkit.Eventually(t, "the rejection is in the log", func() bool {
			rows = s.rejected(conn, want.status)
			return len(rows) == 1
		})
		row := rows[0]
		if row.Error == "" || !bytes.Contains([]byte(row.Error), []byte(want.reason)) {
			t.Errorf("%d: error %q, want a reason mentioning %q", want.status, row.Error, want.reason)
		}
		if row.ProcessedAt == nil || row.Repeats != 0 || row.CampaignID == nil || *row.CampaignID != conn.CampaignID {
			t.Errorf("%d: processed %v, repeats %d, campaign %v", want.status, row.ProcessedAt, row.Repeats, row.CampaignID)
		}
		if len(row.Payload) == 0 || len(row.Payload) > health.MaxRejectedBody {
			t.Errorf("%d: payload of %d bytes kept", want.status, len(row.Payload))
		}
	}
	if n := s.pending(conn); n != 0 {
		t.Errorf("%d rejected requests entered the processing queue", n)
	}
	// A rejected request was never verified: replaying it is refused.
	row := s.rejected(conn, 401)[0]
	if _, err := s.conns.WebhookEvent(s.admin, row.ID); err == nil {
		t.Error("a rejected request can be replayed")
	}

	// A disconnected connection still in the platform's hands answers 410, in its log.
	if _, err := s.conns.Disconnect(s.admin, conn.ID); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the webhook edge refuses the disconnected connection", func() bool {
		return s.post(path, signed, update(4, "4242", 1700000004, "late")).status == 410
	})
	testkit.Eventually(t, "the 410 is in the log", func() bool { return len(s.rejected(conn, 410)) == 1 })
}

// A flood must not become a flood of rows: a connection's rejections of one
// kind are one row a minute, whose repeats count the rest.
func TestRejectedFloodIsSampled(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, _ := s.telegramBot()
	path := "/webhooks/telegram/" + string(conn.ID)
	const flood = 1000
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if st := s.postURL(s.url+path, map[string]string{telegram.SecretHeader: "forged"}, update(int64(i), "4242", 1700000000, "forged")); st != 401 {
					t.Errorf("status %d", st)
				}
			}
		})
	}
	start := time.Now()
	for i := range flood {
		work <- i
	}
	close(work)
	wg.Wait()
	minutes := int(time.Now().Unix()/60-start.Unix()/60) + 1
	var rows []*ent.WebhookEvent
	testkit.Eventually(t, "every forged request is counted", func() bool {
		rows = s.rejected(conn, 401)
		n := 0
		for _, r := range rows {
			n += 1 + r.Repeats
		}
		return n == flood
	})
	if len(rows) > minutes {
		t.Errorf("%d rows stored for %d forged requests within %d minute(s)", len(rows), flood, minutes)
	}
}

// "Clear webhook queue": skipping takes a connection's unapplied entries out
// of the queue, only that connection's and only those received before the
// cut; they stay in the log and a replay applies one.
func TestSkipWebhookEvents(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	a, secretA := s.telegramBot()
	b, secretB := s.telegramBot()
	post := func(conn *ent.Connection, secret string, id int64) {
		t.Helper()
		if r := s.post("/webhooks/telegram/"+string(conn.ID), map[string]string{telegram.SecretHeader: secret}, update(id, "4242", 1700000000+id, "hi")); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	post(a, secretA, 1)
	post(a, secretA, 2)
	post(b, secretB, 1)
	early := time.Now()
	post(a, secretA, 3)

	if n, err := s.conns.SkipWebhookEvents(s.admin, a.ID, &early); err != nil || n != 2 {
		t.Fatalf("skipping before the third: %d, %v", n, err)
	}
	if n, err := s.conns.SkipWebhookEvents(s.admin, a.ID, nil); err != nil || n != 1 {
		t.Fatalf("skipping the rest: %d, %v", n, err)
	}
	if n := s.pending(a); n != 0 {
		t.Errorf("%d entries of the cleared connection still queued", n)
	}
	if n := s.pending(b); n != 1 {
		t.Errorf("the other connection has %d entries queued, want 1", n)
	}
	skipped := s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(a.ID), webhookevent.SkippedAtNotNil()).AllX(sys())
	if len(skipped) != 3 {
		t.Fatalf("%d entries kept as skipped, want 3", len(skipped))
	}
	// A second clear finds nothing more to skip.
	if n, err := s.conns.SkipWebhookEvents(s.admin, a.ID, nil); err != nil || n != 0 {
		t.Errorf("clearing again: %d, %v", n, err)
	}
	ev, err := s.proc.Process(sys(), skipped[0].ID)
	if err != nil || ev.ProcessedAt == nil || ev.SkippedAt != nil {
		t.Fatalf("replaying a skipped entry: %+v, %v", ev, err)
	}
	if n := len(s.messages(a)); n != 1 {
		t.Errorf("%d messages after replaying one skipped entry", n)
	}
}
