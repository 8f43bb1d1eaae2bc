package webhooks_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/journal"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/platform/zalo/zalotest"
	"github.com/switchboard-chat/switchboard/vault"
	"github.com/switchboard-chat/switchboard/webhooks"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const (
	fbAppSecret = "fb-app-secret-for-webhooks"
	waAppSecret = "wa-app-secret-for-webhooks"
	verifyToken = "meatyhamhock"
	zaloAppID   = "360846524940903967"
)

// stack is a whole ingest path over the package's database: the webhook
// edge on an httptest server, the journal, processing workers, and the
// connections service with fake platform APIs.
type stack struct {
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
	noProcessing bool                                   // journal only: as if the process died before processing
	journalDB    *sql.DB                                // a different database handle for the journal
	plainHTTP    bool                                   // serve plain HTTP (benchmarks: TLS is the proxy's job)
	logs         io.Writer                              // where the stack logs (default: discarded)
	journalWait  time.Duration                          // the journal's MaxWait: gathers concurrent requests into one batch
	routeTTL     time.Duration                          // how long connection lookups are cached (default 10ms)
	decoders     map[schematype.Platform]ingest.Decoder // replace adapters' decoders
}

func newStack(t testing.TB, opt stackOptions) *stack {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if opt.logs != nil {
		logger = slog.New(slog.NewTextHandler(opt.logs, nil))
	} else if os.Getenv("WEBHOOK_TEST_LOGS") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s := &stack{t: t, db: dbtest.Client(t, nil), sqlDB: dbtest.Open(t)}
	mux := http.NewServeMux()
	// Platforms only call https URLs on standard ports: the webhook server
	// poses as https://example.com (httptest's certificate names it).
	srv := httptest.NewUnstartedServer(mux)
	if opt.plainHTTP {
		srv.Start()
	} else {
		srv.StartTLS()
	}
	t.Cleanup(srv.Close)
	s.url = srv.URL
	s.hc = srv.Client()
	publicClient := srv.Client()
	publicClient.Transport.(*http.Transport).MaxIdleConnsPerHost = 256
	publicClient.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	s.tg = telegramtest.NewServer(t)
	s.meta = graphtest.NewServer(t, "fb-app", fbAppSecret)
	s.zalo = zalotest.NewServer(t, zaloAppID, "zalo-app-secret")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keys, _ := vault.New(key)
	pub, _ := url.Parse("https://example.com")
	g := graphapi.New(s.meta.URL, "v21.0", nil)
	s.conns = connections.New(s.db, keys, pub, connections.Platforms{
		Telegram: telegram.New(s.tg.URL, nil), Facebook: facebook.New(g, "fb-app", fbAppSecret), WhatsApp: whatsapp.New(g),
		Zalo: zalo.New(s.zalo.URL, s.zalo.URL, nil), ZaloAppID: zaloAppID, ZaloAppSecret: "zalo-app-secret",
		FacebookAppSecret: fbAppSecret, WhatsAppAppSecret: waAppSecret, WebhookClient: publicClient,
	}, logger)
	s.hub = events.NewHub(s.sqlDB, s.db, logger)
	s.conns.OnChange(s.hub)
	decoders := map[schematype.Platform]ingest.Decoder{
		schematype.PlatformTelegram: telegram.Decode, schematype.PlatformFacebook: facebook.Decode,
		schematype.PlatformWhatsApp: whatsapp.Decode, schematype.PlatformZalo: zalo.Decode,
	}
	maps.Copy(decoders, opt.decoders)
	s.proc = ingest.New(s.db, decoders, s.hub, logger)
	s.proc.FetchProfiles(s.conns)
	jdb := s.sqlDB
	if opt.journalDB != nil {
		jdb = opt.journalDB
	}
	s.jr = journal.New(jdb, logger, journal.Options{OnCommit: s.proc.Wake, StatsEvery: time.Hour, MaxWait: opt.journalWait})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { s.jr.Run(ctx); done <- struct{}{} }()
	go func() { s.hub.Run(ctx, "", 50*time.Millisecond); done <- struct{}{} }()
	go func() { s.conns.RunProfiles(ctx, s.hub); done <- struct{}{} }()
	workers := 0
	if !opt.noProcessing {
		workers = 1
		go func() { s.proc.Run(ctx, benchWorkers(), 50*time.Millisecond); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range 3 + workers {
			<-done
		}
	})
	webhooks.New(webhooks.Options{
		Client: s.db, Journal: s.jr, Connections: s.conns, Logger: logger,
		FacebookAppSecret: fbAppSecret, FacebookVerifyToken: verifyToken,
		WhatsAppAppSecret: waAppSecret, WhatsAppVerifyToken: verifyToken,
		RouteCacheTTL: cmp.Or(opt.routeTTL, 10*time.Millisecond),
	}).Register(mux)
	s.admin = auth.WithViewer(context.Background(), &auth.Viewer{UserID: "usr_test", Admin: true})
	return s
}

func sys() context.Context { return privacy.DecisionContext(context.Background(), privacy.Allow) }

var seq atomic.Int64

// uniqueDigits returns a numeric id no other test uses (platform ids are digits).
func uniqueDigits(prefix string) string {
	return fmt.Sprintf("%s%d%03d", prefix, time.Now().UnixNano()%1e12, seq.Add(1)%1000)
}

func (s *stack) campaign() *ent.Campaign {
	return s.db.Campaign.Create().SetName("webhooks " + uniqueDigits("")).SaveX(sys())
}

// telegramBot connects a fresh bot and returns the connection and its webhook secret.
func (s *stack) telegramBot() (*ent.Connection, string) {
	s.t.Helper()
	id := uniqueDigits("5")
	token := id + ":AAH-webhookTest_" + strings.Repeat("q", 30)
	s.tg.AddBot(token, telegram.User{ID: mustInt(id), IsBot: true, FirstName: "Hook", Username: "hook_bot"})
	conn, err := s.conns.ConnectTelegram(s.admin, connections.TelegramInput{CampaignID: s.campaign().ID, BotToken: token})
	if err != nil {
		s.t.Fatal(err)
	}
	return conn, s.tg.Webhook(token).SecretToken
}

func mustInt(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
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

func fixture(t *testing.T, platform, name string, replace ...string) []byte {
	t.Helper()
	b, err := os.ReadFile("../platform/" + platform + "/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(replace...).Replace(string(b)))
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
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

// journaled counts a connection's journal entries with the dedup key.
func (s *stack) journaled(conn *ent.Connection, key string) int {
	return s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.DedupKey(key)).CountX(sys())
}

// benchWorkers is INGEST_WORKERS for the stack's processing, default 1 like the server.
func benchWorkers() int {
	if n, err := strconv.Atoi(os.Getenv("INGEST_WORKERS")); err == nil {
		return n
	}
	return 1
}
