// Package app builds Switchboard from its configuration: clients, platform
// channels, services, the journal, processing, the event hub, both HTTP
// edges and the background workers. It is the one wiring: the server, the
// end-to-end tests and every package's test harness run this code, so the
// tests exercise what production runs.
package app

import (
	"context"
	"database/sql"
	"expvar"
	"log/slog"
	"math"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/calls"
	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/contacts"
	"github.com/switchboard-chat/switchboard/conversations"
	"github.com/switchboard-chat/switchboard/ent"
	_ "github.com/switchboard-chat/switchboard/ent/runtime" // privacy policies and hooks
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/graph"
	"github.com/switchboard-chat/switchboard/graphiql"
	"github.com/switchboard-chat/switchboard/health"
	"github.com/switchboard-chat/switchboard/httpx"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/internal/prepared"
	"github.com/switchboard-chat/switchboard/journal"
	"github.com/switchboard-chat/switchboard/metrics"
	"github.com/switchboard-chat/switchboard/migrations"
	"github.com/switchboard-chat/switchboard/outbox"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/retention"
	"github.com/switchboard-chat/switchboard/vault"
	"github.com/switchboard-chat/switchboard/webhooks"
	"github.com/switchboard-chat/switchboard/widgets"
)

// Channels builds the channel of every platform Switchboard speaks, from
// its settings. Adding a platform adds one line here.
func Channels(p config.Platforms, l config.Limits, hc *http.Client) []platform.Channel {
	return []platform.Channel{
		telegram.NewChannel(telegram.New(p.TelegramAPIURL, hc)),
		facebook.NewChannel(facebook.New(graphapi.New(p.FacebookGraphURL, p.FacebookGraphVersion, hc), p.FacebookAppID, p.FacebookAppSecret), p.FacebookVerifyToken),
		whatsapp.NewChannel(whatsapp.New(graphapi.New(p.WhatsAppGraphURL, p.FacebookGraphVersion, hc)), p.WhatsAppAppSecret, p.WhatsAppVerifyToken),
		zalo.NewChannel(zalo.New(p.ZaloOAuthURL, p.ZaloOpenAPIURL, hc), p.ZaloAppID, p.ZaloAppSecret, l.ZaloMaxEventAge, platform.MediaClient(p.MediaAllowPrivate)),
	}
}

// Options change how the application is built; the zero value is production.
// Tests use them to reach fakes and to observe.
type Options struct {
	// HTTPClient calls the platforms' APIs (nil: a client with timeouts).
	HTTPClient *http.Client
	// WebhookClient sends testWebhook's events to PUBLIC_URL (nil: a default client).
	WebhookClient *http.Client
	// JournalDB is the journal's database handle (nil: the application's).
	JournalDB *sql.DB
	// JournalWait is how long the journal waits to gather a batch (0: it does not wait).
	JournalWait time.Duration
	// RouteCacheTTL bounds how stale the webhook edge's connection lookups may be (0: 2s).
	RouteCacheTTL time.Duration
	// Poll is how often workers and the hub look for work nobody told them
	// of (0: 1s).
	Poll time.Duration
	// HealthEvery is how often webhook health is written (0: 500ms).
	HealthEvery time.Duration
	// WrapDriver wraps the ent driver (a statement counter, say).
	WrapDriver func(dialect.Driver) dialect.Driver
	// WrapChannel wraps each platform channel (a fault to inject, say).
	WrapChannel func(platform.Channel) platform.Channel
}

// App is one Switchboard process.
type App struct {
	Config        *config.Config
	Client        *ent.Client
	Platforms     *platform.Registry
	Accounts      *accounts.Service
	Connections   *connections.Service
	Journal       *journal.Journal
	Ingest        *ingest.Processor
	Outbox        *outbox.Service
	Conversations *conversations.Service
	Calls         *calls.Service
	Contacts      *contacts.Service
	Events        *events.Writer
	Hub           *events.Hub
	Health        *health.Recorder
	Webhooks      *webhooks.Handler
	Widgets       *widgets.Service
	Sockets       *graph.Sockets

	db     *sql.DB
	logger *slog.Logger
	opt    Options
}

// New wires the application over db.
func New(cfg *config.Config, db *sql.DB, logger *slog.Logger, opt Options) (*App, error) {
	if opt.HTTPClient == nil {
		opt.HTTPClient = platform.NewHTTPClient()
	}
	if opt.Poll == 0 {
		opt.Poll = time.Second
	}
	if opt.HealthEvery == 0 {
		opt.HealthEvery = 500 * time.Millisecond
	}
	var drv dialect.Driver = prepared.Wrap(entsql.OpenDB(dialect.Postgres, db))
	if opt.WrapDriver != nil {
		drv = opt.WrapDriver(drv)
	}
	client := ent.NewClient(ent.Driver(drv))
	keys, err := vault.New(cfg.EncryptionKey, cfg.OldEncryptionKeys...)
	if err != nil {
		return nil, err
	}
	chans := Channels(cfg.Platforms, cfg.Limits, opt.HTTPClient)
	if opt.WrapChannel != nil {
		for i, ch := range chans {
			chans[i] = opt.WrapChannel(ch)
		}
	}
	a := &App{Config: cfg, Client: client, Platforms: platform.NewRegistry(chans...), db: db, logger: logger, opt: opt}
	a.Accounts = accounts.New(client, auth.NewTokens(cfg.JWTSecret, cfg.TokenTTL), accounts.WithThrottle(accounts.ThrottleLimits{
		EmailFailures: cfg.Limits.LoginEmailFailures, IPFailures: cfg.Limits.LoginIPFailures, Window: cfg.Limits.LoginWindow}))
	a.Hub = events.NewHub(db, client, logger)
	l := cfg.Limits
	a.Sockets = graph.NewSockets(a.Accounts, l.WSMaxSockets, l.WSMaxOperations, l.WSWriteTimeout)
	a.Accounts.OnSessionsEnded(a.Sockets.Recheck)
	a.Events = events.NewWriter(client, a.Hub)
	a.Health = health.New(a.Events, logger, opt.HealthEvery)
	a.Connections = connections.New(connections.Options{Client: client, Keys: keys, PublicURL: cfg.PublicURL,
		Platforms: a.Platforms, Events: a.Events, Logger: logger, WebhookClient: opt.WebhookClient})
	a.Ingest = ingest.New(client, a.Platforms, a.Events, a.Health, logger)
	a.Outbox = outbox.New(outbox.Options{Client: client, Connections: a.Connections, Events: a.Events, Logger: logger,
		MaxAttempts: cfg.Platforms.OutboxMaxAttempts})
	a.Conversations = conversations.New(client, a.Events, a.Connections, logger)
	a.Calls = calls.New(calls.Options{Client: client, Events: a.Events, Keys: keys})
	a.Contacts = contacts.New(client, a.Events)
	a.Ingest.FetchProfiles(a.Connections)
	a.Ingest.AnswerThrough(a.Connections)
	jdb := db
	if opt.JournalDB != nil {
		jdb = opt.JournalDB
	}
	a.Journal = journal.New(jdb, logger, journal.Options{OnCommit: a.Ingest.Wake, Received: a.Health.Received, MaxWait: opt.JournalWait})
	a.Widgets = widgets.New(client, a.Connections, a.Events, cfg.PublicURL)
	a.Webhooks = webhooks.New(webhooks.Options{Client: client, Journal: a.Journal, Connections: a.Connections,
		Platforms: a.Platforms, Health: a.Health, Logger: logger, Hub: a.Hub, RouteCacheTTL: opt.RouteCacheTTL})
	a.initMetrics(chans)
	return a, nil
}

// initMetrics registers the process's metrics (package metrics), with a
// series per platform from the start, and the two depths only the database
// knows, counted at each scrape through the partial indexes that hold
// exactly those rows.
func (a *App) initMetrics(chans []platform.Channel) {
	var names []string
	for _, ch := range chans {
		names = append(names, string(ch.Platform()))
	}
	metrics.Init(names, a.db)
	count := func(q string) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var n float64
			if err := a.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
				return math.NaN() // unknown, rather than a reassuring zero
			}
			return n
		}
	}
	metrics.Gauge("switchboard_journal_backlog", "Journal events waiting to be processed (first attempt or retry).",
		count(`SELECT count(*) FROM webhook_events WHERE processed_at IS NULL AND failed_at IS NULL AND skipped_at IS NULL AND connection_id IS NOT NULL`))
	metrics.Gauge("switchboard_outbox_depth", "Agents' messages waiting to be sent (first attempt or retry).",
		count(`SELECT count(*) FROM messages WHERE direction = 'OUTBOUND' AND status = 'PENDING'`))
}

// Run runs the background work until ctx ends: the hub, and what RunWork runs.
func (a *App) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { a.RunHub(ctx) })
	wg.Go(func() { a.RunWork(ctx) })
	wg.Wait()
}

// RunHub fans events out to subscribers, and closes the websockets of
// sessions that ended, until ctx ends.
func (a *App) RunHub(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { a.Hub.Run(ctx, a.Config.DatabaseURL, a.opt.Poll) })
	wg.Go(func() { a.Sockets.Run(ctx, 5*time.Second) })
	wg.Wait()
}

// RunWork runs the journal's batcher, the processing workers, the outbox's
// senders, token renewal, the connections' health checks, profile lookups,
// the routing of events that came before their connection, the webhook
// edge's following of connection changes and the health writer until ctx
// ends.
func (a *App) RunWork(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { a.Journal.Run(ctx) })
	wg.Go(func() { a.Ingest.Run(ctx, a.Config.Platforms.IngestWorkers, a.opt.Poll) })
	wg.Go(func() { a.Outbox.Run(ctx, a.Config.Platforms.OutboxWorkers, a.opt.Poll) })
	wg.Go(func() { a.Connections.RunRefresher(ctx, time.Minute) })
	wg.Go(func() { a.Connections.Checker(a.Config.Platforms.ConnectionCheckInterval).Run(ctx) })
	wg.Go(func() { a.Connections.RunProfiles(ctx) })
	wg.Go(func() { a.Connections.RunReroutes(ctx) })
	wg.Go(func() { a.Webhooks.Run(ctx) })
	wg.Go(func() { a.Health.Run(ctx) })
	wg.Go(func() {
		retention.New(a.db, retention.Options{Webhooks: a.Config.WebhookRetention, EventLog: a.Config.EventLogRetention,
			ReplayDepth: a.Config.Limits.EventReplayMax, Logger: a.logger}).Run(ctx, time.Hour)
	})
	wg.Wait()
}

// Handler serves every route: the platforms' webhooks, GraphQL, the Zalo
// widget's browser events, health and readiness, statistics, and the
// GraphiQL when introspection is on.
func (a *App) Handler() http.Handler {
	cfg := a.Config
	mux := http.NewServeMux()
	a.Webhooks.Register(mux)
	mux.Handle("/graphql", graph.NewHandler(graph.Options{
		Client:          a.Client,
		Accounts:        a.Accounts,
		Connections:     a.Connections,
		Ingest:          a.Ingest,
		Outbox:          a.Outbox,
		Conversations:   a.Conversations,
		Calls:           a.Calls,
		Contacts:        a.Contacts,
		Hub:             a.Hub,
		Platforms:       a.Platforms,
		Widgets:         a.Widgets,
		Introspection:   cfg.Introspection,
		ComplexityLimit: cfg.ComplexityLimit,
		Limits:          cfg.Limits,
		Sockets:         a.Sockets,
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			return origin == "" || httpx.OriginAllowed(cfg.AllowedOrigins, origin)
		},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", a.ready)
	if cfg.Introspection {
		graphiql.Register(mux, "Switchboard", "/graphql")
	}
	// The widget's browser events come from the business's website: their
	// CORS is the widget's own, so they stay outside the SPA's.
	root := http.NewServeMux()
	root.Handle("/", httpx.CORS(cfg.AllowedOrigins, mux))
	widgets.NewBrowser(a.Widgets, cfg.Limits.WidgetRate, cfg.Limits.WidgetBurst, cfg.Limits.TrustedProxies, a.logger).Register(root)
	return httpx.Logging(a.logger, root)
}

// AdminHandler serves the operator's endpoints, on ADMIN_ADDR only: they
// tell an attacker much and cost CPU, so they are never on the public listener.
func (a *App) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	mux.Handle("GET /debug/vars", expvar.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// ready answers 200 only when the database is reachable and fully migrated.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.PingContext(ctx); err != nil {
		a.logger.WarnContext(ctx, "readiness: database unreachable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable","reason":"database unreachable"}`))
		return
	}
	pending, err := migrations.Pending(ctx, a.db)
	if err != nil || len(pending) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable","reason":"database not migrated"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ready"}`))
}
