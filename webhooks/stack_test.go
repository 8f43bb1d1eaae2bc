package webhooks_test

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/app"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/journal"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
	"github.com/switchboard-chat/switchboard/platform/zalo/zalotest"
	"github.com/switchboard-chat/switchboard/webhooks"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const (
	fbAppSecret = "fb-app-secret-for-webhooks"
	waAppSecret = "wa-app-secret-for-webhooks"
	verifyToken = "meatyhamhock"
	zaloAppID   = "360846524940903967"
)

// stack is a whole application over the package's database (the production
// wiring, app.New): the webhook edge on an https test server posing as
// PUBLIC_URL, the journal, processing, the hub, and the connections service
// with fake platform APIs.
type stack struct {
	*testapp.Stack
	t     testing.TB
	url   string
	hc    *http.Client
	db    *ent.Client
	sqlDB *sql.DB
	conns *connections.Service
	jr    *journal.Journal
	proc  *ingest.Processor
	hub   *events.Hub
	tg    *telegramtest.Server
	meta  *graphtest.Server
	zalo  *zalotest.Server
	admin context.Context
}

type stackOptions struct {
	noProcessing bool                                    // journal only: as if the process died before processing
	journalDB    *sql.DB                                 // a different database handle for the journal
	plainHTTP    bool                                    // serve plain HTTP (benchmarks: TLS is the proxy's job)
	logs         io.Writer                               // where the stack logs (default: discarded)
	journalWait  time.Duration                           // the journal's MaxWait: gathers concurrent requests into one batch
	routeTTL     time.Duration                           // how long connection lookups are cached (default 10ms)
	wrap         func(platform.Channel) platform.Channel // wraps each platform's channel
	key          []byte                                  // ENCRYPTION_KEY: another stack's, to be a replica of its deployment
}

func newStack(t testing.TB, opt stackOptions) *stack {
	t.Helper()
	workers := strconv.Itoa(benchWorkers())
	if opt.noProcessing {
		workers = "0"
	}
	ts := testapp.Start(t, testapp.Options{
		TLS:  !opt.plainHTTP,
		Logs: opt.logs,
		Key:  opt.key,
		Env: map[string]string{
			"FACEBOOK_APP_ID": "fb-app", "FACEBOOK_APP_SECRET": fbAppSecret, "FACEBOOK_VERIFY_TOKEN": verifyToken,
			"WHATSAPP_APP_SECRET": waAppSecret, "WHATSAPP_VERIFY_TOKEN": verifyToken,
			"ZALO_APP_ID": zaloAppID, "ZALO_APP_SECRET": "zalo-app-secret",
			"INGEST_WORKERS": workers,
		},
		App: app.Options{
			JournalDB: opt.journalDB, JournalWait: opt.journalWait,
			RouteCacheTTL: cmp.Or(opt.routeTTL, 10*time.Millisecond),
			Poll:          50 * time.Millisecond, HealthEvery: 50 * time.Millisecond,
			WrapChannel: opt.wrap,
		},
	})
	select {
	case <-webhooks.Following(ts.Webhooks):
	case <-time.After(20 * time.Second):
		t.Fatal("the webhook edge does not follow connection changes")
	}
	return &stack{Stack: ts, t: t, url: ts.URL, hc: ts.HC, db: ts.Client, sqlDB: dbtest.Open(t), conns: ts.Connections,
		jr: ts.Journal, proc: ts.Ingest, hub: ts.Hub, tg: ts.TG, meta: ts.Meta, zalo: ts.Zalo,
		admin: auth.WithViewer(context.Background(), &auth.Viewer{UserID: "usr_test", Admin: true})}
}

func sys() context.Context { return testkit.Sys() }

// uniqueDigits returns a numeric id no other test uses (platform ids are digits).
func uniqueDigits(prefix string) string { return testkit.Digits(prefix) }

// telegramBot connects a fresh bot and returns the connection and its webhook secret.
func (s *stack) telegramBot() (*ent.Connection, string) {
	conn, _, secret := s.TelegramBot()
	return conn, secret
}

type reply struct {
	status int
	body   string
}

// postURL sends a webhook and returns the status; safe from many goroutines.
func (s *stack) postURL(url string, header map[string]string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (s *stack) post(path string, header map[string]string, body []byte) reply {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}
}

// drain processes the journal on the test's goroutine until nothing is
// left to claim.
func (s *stack) drain() {
	s.t.Helper()
	for {
		if did, err := s.proc.ProcessNext(sys()); err != nil {
			s.t.Fatal(err)
		} else if !did {
			return
		}
	}
}

// messages returns a connection's messages in conversation order.
func (s *stack) messages(conn *ent.Connection) []*ent.Message {
	return s.db.Message.Query().Where(message.ConnectionID(conn.ID)).Order(message.ByPosition()).AllX(sys())
}

func texts(ms []*ent.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

// pending counts a connection's journal entries not yet processed (an entry
// being processed counts until its transaction commits).
func (s *stack) pending(conn *ent.Connection) int {
	return ingest.Pending(s.db, conn.ID).CountX(sys())
}

// journaled counts a connection's journal entries with the dedup key.
func (s *stack) journaled(conn *ent.Connection, key string) int {
	return s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.DedupKey(key)).CountX(sys())
}

// benchWorkers is INGEST_WORKERS for the stack's processing, default 2 like the server.
func benchWorkers() int {
	if n, err := strconv.Atoi(os.Getenv("INGEST_WORKERS")); err == nil {
		return n
	}
	return 2
}
