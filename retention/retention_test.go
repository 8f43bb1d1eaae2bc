package retention_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/retention"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestRetention(t *testing.T) {
	db := dbtest.Open(t)
	ctx := context.Background()
	now := time.Now()
	old, recent := now.Add(-31*24*time.Hour), now.Add(-time.Hour)
	journal := []struct {
		id        string
		at        time.Time
		processed bool
	}{
		{"whe_old_done", old, true},
		{"whe_old_pending", old, false}, // still to process: it keeps its payload
		{"whe_recent_done", recent, true},
	}
	for _, e := range journal {
		var processed any
		if e.processed {
			processed = e.at
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO webhook_events (id, platform, event_type, dedup_key, payload, received_at, processed_at)
			VALUES ($1, 'TELEGRAM', 'message', $1, '{"update_id":1}', $2, $3)`, e.id, e.at, processed); err != nil {
			t.Fatal(err)
		}
	}
	// Ten old events and two recent ones; the replay depth keeps the newest five.
	for i := range 12 {
		at := old
		if i >= 10 {
			at = recent
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO domain_events (type, campaign_id, entity_id, created_at) VALUES ('MESSAGE_ADDED', 'cmp_x', $1, $2)`,
			i, at); err != nil {
			t.Fatal(err)
		}
	}
	p := retention.New(db, retention.Options{Webhooks: 30 * 24 * time.Hour, EventLog: 7 * 24 * time.Hour, ReplayDepth: 5, Batch: 2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	payloads, events, err := p.Once(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if payloads != 1 || events != 7 {
		t.Fatalf("emptied %d payloads and deleted %d events, want 1 and 7", payloads, events)
	}
	for _, e := range journal {
		var n int
		var processed *time.Time
		if err := db.QueryRowContext(ctx, `SELECT length(payload), processed_at FROM webhook_events WHERE id = $1`, e.id).Scan(&n, &processed); err != nil {
			t.Fatalf("%s: %v (the row must stay)", e.id, err)
		}
		if want := e.id == "whe_old_done"; (n == 0) != want {
			t.Errorf("%s: payload of %d bytes", e.id, n)
		}
		if (processed != nil) != e.processed {
			t.Errorf("%s: its outcome changed", e.id)
		}
	}
	var left []string
	rows, err := db.QueryContext(ctx, `SELECT entity_id FROM domain_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		left = append(left, id)
	}
	rows.Close()
	if len(left) != 5 || left[0] != "7" {
		t.Fatalf("events left: %v, want the newest five (7..11)", left)
	}
	if p2, e2, err := p.Once(ctx, now); err != nil || p2+e2 != 0 {
		t.Fatalf("a second pass changed %d and %d rows (%v)", p2, e2, err)
	}
}
