package webhooks_test

import (
	"testing"

	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// scrape reads the operator's /metrics.
func scrape(t *testing.T, s *stack) map[string]float64 {
	t.Helper()
	return testkit.Scrape(t, s.AdminHandler())
}

// /metrics on the admin listener shows webhooks from arrival to processing,
// with every platform's series there from the start.
func TestMetrics(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	before := scrape(t, s)
	for _, series := range []string{
		`switchboard_webhooks_received_total{platform="FACEBOOK"}`,
		`switchboard_webhooks_rejected_total{platform="ZALO",reason="bad_signature"}`,
		`switchboard_send_failures_total{kind="rate_limited",platform="WHATSAPP"}`,
		`switchboard_webhook_ack_seconds_count{platform="TELEGRAM"}`,
		`switchboard_events_processed_total{outcome="failed"}`,
		`switchboard_journal_backlog`,
		`switchboard_outbox_depth`,
		`go_sql_open_connections{db_name="switchboard"}`,
	} {
		if _, ok := before[series]; !ok {
			t.Errorf("%s is not exported before anything happened", series)
		}
	}

	path := "/webhooks/telegram/" + string(conn.ID)
	if r := s.post(path, map[string]string{telegram.SecretHeader: secret}, update(1, uniqueDigits("5"), 1700000001, "hi")); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if r := s.post(path, map[string]string{telegram.SecretHeader: "forged"}, update(2, uniqueDigits("5"), 1700000002, "hi")); r.status != 401 {
		t.Fatalf("forged: status %d", r.status)
	}
	testkit.Eventually(t, "the message is applied", func() bool { return s.pending(conn) == 0 && len(s.messages(conn)) == 1 })
	testkit.Eventually(t, "processing is counted", func() bool {
		return scrape(t, s)[`switchboard_events_processed_total{outcome="applied"}`] > before[`switchboard_events_processed_total{outcome="applied"}`]
	})
	after := scrape(t, s)
	for series, want := range map[string]float64{
		`switchboard_webhooks_received_total{platform="TELEGRAM"}`:                        2,
		`switchboard_webhooks_rejected_total{platform="TELEGRAM",reason="bad_signature"}`: 1,
		`switchboard_webhook_events_total{outcome="journaled",platform="TELEGRAM"}`:       1,
		`switchboard_webhook_ack_seconds_count{platform="TELEGRAM"}`:                      2,
		`switchboard_journal_batch_events_count`:                                          1,
		`switchboard_processing_lag_seconds_count`:                                        1,
	} {
		// Other tests of the package share the process's metrics: compare
		// with before.
		if got := after[series] - before[series]; got < want {
			t.Errorf("%s grew by %v, want at least %v", series, got, want)
		}
	}
}
