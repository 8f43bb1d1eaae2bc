// Switchboard is a GraphQL backend-for-frontend for omnichannel customer
// messaging. Run with no arguments it serves; `switchboard migrate` applies the
// database migrations and exits.
package main

import (
	"context"
	"database/sql"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql/playground"
	_ "github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	_ "github.com/switchboard-chat/switchboard/ent/runtime"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/graph"
	"github.com/switchboard-chat/switchboard/httpx"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/journal"
	"github.com/switchboard-chat/switchboard/migrations"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/vault"
	"github.com/switchboard-chat/switchboard/webhooks"
)

func main() { os.Exit(cli(os.Args[1:], os.Stderr)) }

// cli runs a command until it ends or SIGINT or SIGTERM arrives, and
// returns the exit code. A failure, at start-up or later, is one error line
// naming its cause, and exit code 1.
func cli(args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	if err := run(ctx, stderr, args); err != nil {
		slog.New(httpx.LogHandler{Handler: slog.NewJSONHandler(stderr, nil)}).Error("switchboard stopped", "err", err)
		return 1
	}
	return 0
}

// run serves (or migrates) until ctx ends. Logs go to out as JSON, at the
// configured level.
func run(ctx context.Context, out io.Writer, args []string) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	logger := slog.New(httpx.LogHandler{Handler: slog.NewJSONHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel})})
	slog.SetDefault(logger)

	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "migrate":
		return migrations.Apply(ctx, db, logger)
	case "serve":
		return serve(ctx, logger, cfg, db)
	default:
		return fmt.Errorf("unknown command %q (want: serve, migrate)", cmd)
	}
}

// dbWait is how long start-up waits for PostgreSQL to come up (it may be
// starting beside us) before it gives up and says why.
const dbWait = 10 * time.Second

// openDB connects to PostgreSQL, waiting briefly for it to come up.
func openDB(ctx context.Context, url string) (*sql.DB, error) {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	deadline := time.Now().Add(dbWait)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = db.PingContext(pingCtx)
		cancel()
		if err == nil {
			return db, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			db.Close()
			return nil, fmt.Errorf("connecting to database: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func serve(ctx context.Context, logger *slog.Logger, cfg *config.Config, db *sql.DB) error {
	logger.Info("starting switchboard", "config", cfg)
	// The address first: a port in use is the commonest start-up failure,
	// and before anything runs there is nothing to wind down.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	if cfg.AutoMigrate {
		if err := migrations.Apply(ctx, db, logger); err != nil {
			return err
		}
	}
	d, err := newDeps(cfg, db, logger)
	if err != nil {
		return err
	}
	acc, conns, jr, proc := d.accounts, d.conns, d.journal, d.ingest
	if cfg.BootstrapEmail != "" {
		created, err := acc.Bootstrap(ctx, cfg.BootstrapEmail, cfg.BootstrapPass)
		if err != nil {
			return fmt.Errorf("bootstrapping the first admin: %w", err)
		}
		if created {
			logger.Info("created the first administrator", "email", cfg.BootstrapEmail)
		}
	}

	// Long-lived requests (websockets) derive from baseCtx, so cancelling it on
	// shutdown closes them cleanly; http.Server.Shutdown alone does not.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	// Background work outlives the HTTP server's shutdown: webhooks in flight
	// still need the journal, and the journal's backlog is worth finishing.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var work sync.WaitGroup
	work.Go(func() { jr.Run(workCtx) })
	work.Go(func() { proc.Run(workCtx, cfg.Platforms.IngestWorkers, time.Second) })
	work.Go(func() { conns.RunRefresher(workCtx, time.Minute) })
	work.Go(func() { conns.RunProfiles(workCtx, d.hub) })
	work.Go(func() { d.hub.Run(baseCtx, cfg.DatabaseURL, time.Second) })
	srv := &http.Server{
		Handler:           routes(logger, cfg, db, d),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	srv.RegisterOnShutdown(cancelBase)
	logger.Info("serving", "addr", ln.Addr().String(), "graphql", cfg.PublicURL.String()+"/graphql")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	var served error
	select {
	case served = <-errc:
	case <-ctx.Done():
		logger.Info("shutting down")
	}
	// Whatever ended serving, everything stops within SHUTDOWN_TIMEOUT.
	deadline, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if served == nil {
		if err := srv.Shutdown(deadline); err != nil {
			logger.Warn("requests still running at the shutdown deadline; closing them", "err", err)
			_ = srv.Close()
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			served = err
		}
	}
	cancelBase()
	stopWork()
	stopped := make(chan struct{})
	go func() { work.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-deadline.Done():
		if served == nil {
			served = fmt.Errorf("background work did not stop within SHUTDOWN_TIMEOUT (%s)", cfg.ShutdownTimeout)
		}
	}
	if served != nil {
		return fmt.Errorf("serving on %s: %w", cfg.Addr, served)
	}
	return nil
}

// platformClients builds the platform API clients from the configuration.
func platformClients(p config.Platforms) connections.Platforms {
	hc := platform.NewHTTPClient()
	return connections.Platforms{
		Telegram:          telegram.New(p.TelegramAPIURL, hc),
		Facebook:          facebook.New(graphapi.New(p.FacebookGraphURL, p.FacebookGraphVersion, hc), p.FacebookAppID, p.FacebookAppSecret),
		WhatsApp:          whatsapp.New(graphapi.New(p.WhatsAppGraphURL, p.FacebookGraphVersion, hc)),
		Zalo:              zalo.New(p.ZaloOAuthURL, p.ZaloOpenAPIURL, hc),
		FacebookAppID:     p.FacebookAppID,
		ZaloAppID:         p.ZaloAppID,
		ZaloAppSecret:     p.ZaloAppSecret,
		FacebookAppSecret: p.FacebookAppSecret,
		WhatsAppAppSecret: p.WhatsAppAppSecret,
	}
}

// Decoders maps each platform to its adapter's webhook decoder.
func Decoders() map[schematype.Platform]ingest.Decoder {
	return map[schematype.Platform]ingest.Decoder{
		schematype.PlatformTelegram: telegram.Decode,
		schematype.PlatformFacebook: facebook.Decode,
		schematype.PlatformWhatsApp: whatsapp.Decode,
		schematype.PlatformZalo:     zalo.Decode,
	}
}

// deps are the services of one server process.
type deps struct {
	client   *ent.Client
	accounts *accounts.Service
	conns    *connections.Service
	journal  *journal.Journal
	ingest   *ingest.Processor
	hooks    *webhooks.Handler
	hub      *events.Hub
}

// newDeps wires the services together from the configuration.
func newDeps(cfg *config.Config, db *sql.DB, logger *slog.Logger) (*deps, error) {
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, db)))
	keys, err := vault.New(cfg.EncryptionKey, cfg.OldEncryptionKeys...)
	if err != nil {
		return nil, err
	}
	d := &deps{
		client:   client,
		accounts: accounts.New(client, auth.NewTokens(cfg.JWTSecret, cfg.TokenTTL)),
		conns:    connections.New(client, keys, cfg.PublicURL, platformClients(cfg.Platforms), logger),
		hub:      events.NewHub(db, client, logger),
	}
	d.conns.OnChange(d.hub)
	d.ingest = ingest.New(client, Decoders(), d.hub, logger)
	d.ingest.FetchProfiles(d.conns)
	d.journal = journal.New(db, logger, journal.Options{OnCommit: d.ingest.Wake})
	d.hooks = webhooks.New(webhooks.Options{
		Client: client, Journal: d.journal, Connections: d.conns, Logger: logger,
		FacebookAppSecret: cfg.Platforms.FacebookAppSecret, FacebookVerifyToken: cfg.Platforms.FacebookVerifyToken,
		WhatsAppAppSecret: cfg.Platforms.WhatsAppAppSecret, WhatsAppVerifyToken: cfg.Platforms.WhatsAppVerifyToken,
	})
	return d, nil
}

func routes(logger *slog.Logger, cfg *config.Config, db *sql.DB, d *deps) http.Handler {
	mux := http.NewServeMux()
	d.hooks.Register(mux)
	mux.Handle("GET /debug/vars", expvar.Handler())
	mux.Handle("/graphql", graph.NewHandler(graph.Options{
		Client:          d.client,
		Accounts:        d.accounts,
		Connections:     d.conns,
		Ingest:          d.ingest,
		Hub:             d.hub,
		Introspection:   cfg.Introspection,
		ComplexityLimit: cfg.ComplexityLimit,
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			return origin == "" || httpx.OriginAllowed(cfg.AllowedOrigins, origin)
		},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			logger.WarnContext(ctx, "readiness: database unreachable", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable","reason":"database unreachable"}`))
			return
		}
		pending, err := migrations.Pending(ctx, db)
		if err != nil || len(pending) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable","reason":"database not migrated"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	})
	if cfg.Introspection {
		mux.Handle("GET /{$}", playground.Handler("Switchboard", "/graphql"))
	}
	return httpx.Logging(logger, httpx.CORS(cfg.AllowedOrigins, mux))
}
