package webhooks_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// BenchmarkWebhookAck measures what a platform waits for: the time from
// sending a Telegram update until the 200 (verified and journaled), at a
// steady 2,000 webhooks/s, with processing running alongside. It reports the
// median and p99 acknowledgement latency and the rate achieved.
//
//	make bench   (or: go test -run '^$' -bench WebhookAck -benchtime 10000x ./webhooks)
func BenchmarkWebhookAck(b *testing.B) {
	const rate = 2000
	s := newStack(b, stackOptions{plainHTTP: true, noProcessing: os.Getenv("BENCH_NO_PROCESSING") != ""})
	conn, secret := s.telegramBot()
	path := s.url + "/webhooks/telegram/" + string(conn.ID)
	header := map[string]string{telegram.SecretHeader: secret}
	// Warm up: open the client's connection pool and fill caches, so the
	// measurement sees steady state rather than TCP handshakes.
	var warm sync.WaitGroup
	for i := range 256 {
		warm.Go(func() { s.postURL(path, header, update(int64(1e9+i), "1", 1700000000, "warm")) })
	}
	warm.Wait()

	latencies := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	interval := time.Second / rate
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		// Open-loop pacing: requests leave on schedule whatever the latency.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			if st := s.postURL(path, header, update(int64(i+1), fmt.Sprint(1000+i%500), 1700000000+int64(i), "load")); st != 200 {
				b.Errorf("status %d", st)
			}
			latencies[i] = time.Since(t0)
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "webhooks/s")
	// How far processing is behind when the load stops (0: it kept up).
	b.ReportMetric(float64(s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.ProcessedAtIsNil()).CountX(sys())), "backlog")
}

// BenchmarkProcessing measures how fast journaled messages become
// conversations and messages (one worker, batches of ingest.BatchSize).
func BenchmarkProcessing(b *testing.B) {
	s := newStack(b, stackOptions{plainHTTP: true, noProcessing: true})
	conn, secret := s.telegramBot()
	path := s.url + "/webhooks/telegram/" + string(conn.ID)
	header := map[string]string{telegram.SecretHeader: secret}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range b.N {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.postURL(path, header, update(int64(i+1), fmt.Sprint(1000+i%500), 1700000000+int64(i), "load"))
		})
	}
	wg.Wait()
	b.ResetTimer()
	start := time.Now()
	s.drain()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkWebhookToSubscriber measures what an agent waits for: from a
// platform posting a message to a subscriber holding it (journal, processing,
// event log, hub), one message at a time.
func BenchmarkWebhookToSubscriber(b *testing.B) {
	s := newStack(b, stackOptions{plainHTTP: true})
	s.drain() // earlier benchmarks may have left a backlog in the shared journal
	conn, secret := s.telegramBot()
	path := s.url + "/webhooks/telegram/" + string(conn.ID)
	header := map[string]string{telegram.SecretHeader: secret}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := s.hub.Subscribe(ctx, events.Spec{Campaigns: []pulid.ID{conn.CampaignID}, Types: []events.Type{events.MessageAdded}})
	if err != nil {
		b.Fatal(err)
	}
	latencies := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if st := s.postURL(path, header, update(int64(i+1), "4711", 1700000000+int64(i), "ping")); st != 200 {
			b.Fatalf("status %d", st)
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			b.Fatal("no delivery")
		}
		latencies[i] = time.Since(t0)
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkLagWithFailingEvents measures how long ordinary messages wait
// between their acknowledgement and being stored while one event in ten
// fails (half of them undecodable, half edits of a message that never
// arrives, which are retried), at a steady 500 webhooks/s. It reports the
// median and p99 of that lag.
func BenchmarkLagWithFailingEvents(b *testing.B) {
	const rate = 500
	s := newStack(b, stackOptions{plainHTTP: true, wrap: editsWait})
	s.drain()
	conn, secret := s.telegramBot()
	path := s.url + "/webhooks/telegram/" + string(conn.ID)
	header := map[string]string{telegram.SecretHeader: secret}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	interval := time.Second / rate
	valid := 0
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		id, chat := int64(i+1), fmt.Sprint(2000+i%50)
		body := update(id, chat, 1700000000+int64(i), "load")
		switch i % 20 {
		case 7:
			body = undecodable(id, chat)
		case 17:
			body = editedUpdate(id, chat, 1e9+id, "never stored")
		default:
			valid++
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if st := s.postURL(path, header, body); st != 200 {
				b.Errorf("status %d", st)
			}
		})
	}
	wg.Wait()
	for deadline := time.Now().Add(2 * time.Minute); len(s.messages(conn)) < valid; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d messages stored", len(s.messages(conn)), valid)
		}
	}
	b.StopTimer()
	var p50, p99 float64
	if err := s.sqlDB.QueryRow(`
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)
FROM (SELECT extract(epoch FROM m.created_at - w.received_at) * 1000 AS lag
	FROM messages m JOIN webhook_events w ON w.connection_id = m.connection_id AND w.dedup_key = 'update:' || split_part(m.external_id, ':', 2)
	WHERE m.connection_id = $1) l`, conn.ID).Scan(&p50, &p99); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(p50, "lag-p50-ms")
	b.ReportMetric(p99, "lag-p99-ms")
}
