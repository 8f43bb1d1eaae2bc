package webhooks_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// scrape reads the operator's /metrics and returns each series' value by
// its name and labels as printed.
func scrape(t *testing.T, s *stack) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	body, _ := io.ReadAll(rec.Body)
	out := map[string]float64{}
	line := regexp.MustCompile(`^([a-z_:]+(?:\{[^}]*\})?) (\S+)$`)
	for _, l := range strings.Split(string(body), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			out[m[1]] = v
		}
	}
	return out
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
