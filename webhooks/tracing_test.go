package webhooks_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/tracing"
	"github.com/switchboard-chat/switchboard/tracing/tracingtest"
)

// A webhook is one trace from its request to its fan-out, across the
// journal row and the domain event that carry it between goroutines (and,
// in production, replicas): webhook → journal → ingest → fan-out, each the
// child of the one before, under the sender's traceparent when it sends one.
func TestWebhookTrace(t *testing.T) {
	s := newStack(t, stackOptions{})
	rec := tracingtest.Record(t)
	conn, secret := s.telegramBot()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := s.hub.Subscribe(ctx, events.Spec{Campaigns: []pulid.ID{conn.CampaignID},
		Types: []events.Type{events.MessageAdded}})
	if err != nil {
		t.Fatal(err)
	}
	sender := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0x0a, 0xf7, 0x65, 0x19}, SpanID: trace.SpanID{0xb7, 0xad},
		TraceFlags: trace.FlagsSampled})
	header := map[string]string{telegram.SecretHeader: secret, "traceparent": "00-" + sender.TraceID().String() + "-" + sender.SpanID().String() + "-01"}
	if r := s.post("/webhooks/telegram/"+string(conn.ID), header, update(31001, uniqueDigits("5"), time.Now().Unix(), "traced")); r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatal("the message was not fanned out")
	}

	var webhook, journal, ingest, fanOut sdktrace.ReadOnlySpan
	testkit.Eventually(t, "every stage's span ended", func() bool {
		for _, sp := range rec.Ended() {
			if sp.SpanContext().TraceID() != sender.TraceID() {
				continue
			}
			switch sp.Name() {
			case "webhook telegram":
				webhook = sp
			case "journal":
				journal = sp
			case "ingest":
				ingest = sp
			case "fan-out":
				fanOut = sp
			}
		}
		return webhook != nil && journal != nil && ingest != nil && fanOut != nil
	})
	for _, link := range []struct {
		child  sdktrace.ReadOnlySpan
		parent trace.SpanContext
	}{{webhook, sender}, {journal, webhook.SpanContext()}, {ingest, journal.SpanContext()}, {fanOut, ingest.SpanContext()}} {
		if got := link.child.Parent().SpanID(); got != link.parent.SpanID() {
			t.Errorf("%s's parent is %s, want %s", link.child.Name(), got, link.parent.SpanID())
		}
	}
	if webhook.SpanKind() != trace.SpanKindServer {
		t.Errorf("the webhook span is %s, want a server span", webhook.SpanKind())
	}
	for sp, want := range map[sdktrace.ReadOnlySpan]map[string]string{
		webhook: {"platform": "TELEGRAM", "connection.id": string(conn.ID), "http.response.status_code": "200"},
		journal: {"journal.entries": "1", "journal.duplicates": "0"},
		ingest:  {"ingest.outcome": "applied", "connection.id": string(conn.ID), "webhook_event.type": "message"},
		fanOut:  {"events.type": "MESSAGE_ADDED", "events.subscribers": "1"},
	} {
		got := map[string]string{}
		for _, kv := range sp.Attributes() {
			got[string(kv.Key)] = kv.Value.String()
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q (all: %v)", sp.Name(), k, got[k], v, got)
			}
		}
	}
	var row string
	if err := s.sqlDB.QueryRow(`SELECT trace_parent FROM webhook_events WHERE connection_id = $1 AND dedup_key = 'update:31001'`,
		conn.ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if want := "00-" + sender.TraceID().String() + "-" + journal.SpanContext().SpanID().String() + "-01"; row != want {
		t.Errorf("the journal row carries %q, want the journal span's %q", row, want)
	}
}

// With tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT) no span is made and
// nothing is stored for one: the journal row and the domain events have no
// trace_parent, whatever traceparent the sender sent.
func TestUntracedWebhookStoresNoTraceParent(t *testing.T) {
	s := newStack(t, stackOptions{})
	if tracing.On() {
		t.Fatal("tracing is on without being set up")
	}
	conn, secret := s.telegramBot()
	header := map[string]string{telegram.SecretHeader: secret, "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	if r := s.post("/webhooks/telegram/"+string(conn.ID), header, update(31002, uniqueDigits("6"), time.Now().Unix(), "untraced")); r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	testkit.Eventually(t, "the journal is processed", func() bool { return s.pending(conn) == 0 && len(s.messages(conn)) == 1 })
	var journaled, logged sql.NullString
	if err := s.sqlDB.QueryRow(`SELECT max(trace_parent) FROM webhook_events WHERE connection_id = $1`, conn.ID).Scan(&journaled); err != nil {
		t.Fatal(err)
	}
	if err := s.sqlDB.QueryRow(`SELECT max(trace_parent) FROM domain_events WHERE campaign_id = $1`, conn.CampaignID).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if journaled.Valid || logged.Valid {
		t.Fatalf("trace_parent stored with tracing off: journal %q, event log %q", journaled.String, logged.String)
	}
}
