// Switchboard is a GraphQL backend-for-frontend for omnichannel customer
// messaging. Run with no arguments it serves; `switchboard migrate` applies the
// database migrations and exits; `switchboard healthcheck` exits 0 when the
// server on ADDR is ready (a container's health probe: distroless images
// have no shell or curl); `switchboard schema` prints the GraphQL schema;
// `switchboard simulate` posts a signed platform webhook (package simulate);
// `switchboard sandbox` serves with the platforms faked (package sandbox),
// in development only.
package main

import (
	"context"
	"database/sql"
	"errors"
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

	_ "github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/app"
	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/graph"
	"github.com/switchboard-chat/switchboard/httpx"
	"github.com/switchboard-chat/switchboard/internal/gcfloor"
	"github.com/switchboard-chat/switchboard/migrations"
	"github.com/switchboard-chat/switchboard/sandbox"
	"github.com/switchboard-chat/switchboard/simulate"
	"github.com/switchboard-chat/switchboard/tracing"
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
	if len(args) > 0 && args[0] == "schema" {
		// The schema clients see, for schema.graphql (make schema): it needs
		// no configuration.
		_, err := io.WriteString(os.Stdout, graph.SDL())
		return err
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		// Before the configuration: a container's health probe has the
		// server's environment but must not need its database or secrets.
		return healthcheck(ctx, os.Getenv("ADDR"), os.Getenv("PORT"))
	}
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
	case "simulate":
		sandbox.Secrets(cfg)
		a, err := app.New(cfg, db, logger, app.Options{})
		if err != nil {
			return err
		}
		return simulate.Command(ctx, simulate.Deps{Client: a.Client, Accounts: a.Connections.Account,
			WebhookURL: func(c *ent.Connection) string { return a.Connections.WebhookURL(c.Platform, c.ID) }}, args[1:], os.Stdout)
	case "serve":
		return serve(ctx, logger, cfg, db, false)
	case "sandbox":
		if err := sandbox.Allowed(cfg); err != nil {
			return err
		}
		return serve(ctx, logger, cfg, db, true)
	default:
		return fmt.Errorf("unknown command %q (want: serve, migrate, simulate, sandbox, healthcheck, schema)", cmd)
	}
}

// healthcheck asks the server listening on addr (ADDR, else :PORT, else
// :8080, as the server itself reads them) whether it is ready.
func healthcheck(ctx context.Context, addr, port string) error {
	switch {
	case addr != "":
	case port != "":
		addr = ":" + port
	default:
		addr = ":8080"
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: ADDR %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, p)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("healthcheck: /readyz answered %s: %s", resp.Status, body)
	}
	return nil
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

// serve serves until ctx ends; withSandbox serves the platform fakes too
// and connects the demo campaign to them once serving.
func serve(ctx context.Context, logger *slog.Logger, cfg *config.Config, db *sql.DB, withSandbox bool) error {
	logger.Info("starting switchboard", "config", cfg)
	floor := gcfloor.Start(uint64(cfg.GCHeapFloorMB) << 20)
	defer floor.Stop()
	// The address first: a port in use is the commonest start-up failure,
	// and before anything runs there is nothing to wind down.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	var adminLn net.Listener
	if cfg.AdminAddr != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return fmt.Errorf("listening on ADMIN_ADDR %s: %w", cfg.AdminAddr, err)
		}
		defer adminLn.Close()
	}
	if cfg.AutoMigrate {
		if err := migrations.Apply(ctx, db, logger); err != nil {
			return err
		}
	}
	var fakes *sandbox.Sandbox
	if withSandbox {
		if err := sandbox.Configure(cfg, sandbox.Base(ln)); err != nil {
			return err
		}
		if err := sandbox.CheckDatabase(ctx, db); err != nil {
			return err
		}
		fakes = sandbox.New(cfg)
	}
	a, err := app.New(cfg, db, logger, app.Options{})
	if err != nil {
		return err
	}
	flushTraces, err := tracing.Setup(ctx, cfg.TracesEndpoint != "", logger)
	if err != nil {
		return fmt.Errorf("setting up tracing: %w", err)
	}
	// Deferred before the server and the background work start, so run
	// after they have stopped: what they traced last is sent too.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := flushTraces(ctx); err != nil {
			logger.Warn("flushing traces", "err", err)
		}
	}()
	if cfg.BootstrapEmail != "" {
		created, err := a.Accounts.Bootstrap(ctx, cfg.BootstrapEmail, cfg.BootstrapPass)
		if err != nil {
			return fmt.Errorf("bootstrapping the first admin: %w", err)
		}
		if created {
			logger.Info("created the first administrator", "email", cfg.BootstrapEmail)
		}
	}

	// The hub runs on baseCtx, until the server has shut down. Requests do
	// not derive from it: a request in flight at SIGTERM may finish within
	// SHUTDOWN_TIMEOUT. Websockets never finish by themselves, so shutdown
	// closes them (clients reconnect elsewhere).
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	// Background work outlives the HTTP server's shutdown: webhooks in flight
	// still need the journal, and the journal's backlog is worth finishing.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var work sync.WaitGroup
	work.Go(func() { a.RunWork(workCtx) })
	work.Go(func() { a.RunHub(baseCtx) })
	// Websockets are hijacked connections: gorilla clears these deadlines
	// on upgrade, and the sockets keep a write deadline of their own.
	handler := a.Handler()
	if fakes != nil {
		handler = fakes.Mount(handler)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.Limits.HTTPReadTimeout,
		WriteTimeout:      cfg.Limits.HTTPWriteTimeout,
		IdleTimeout:       cfg.Limits.HTTPIdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.RegisterOnShutdown(a.Sockets.CloseAll)
	logger.Info("serving", "addr", ln.Addr().String(), "graphql", cfg.PublicURL.String()+"/graphql")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if adminLn != nil {
		admin := &http.Server{Handler: a.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = admin.Serve(adminLn) }()
		defer admin.Close()
		logger.Info("serving the operator's endpoints", "addr", adminLn.Addr().String())
	}

	var served, setup error
	if fakes != nil {
		// Connecting calls the fakes through this server, so only now.
		var demo *sandbox.Demo
		if demo, setup = fakes.Setup(ctx, a); setup == nil {
			demo.Print(os.Stdout, cfg.PublicURL.String())
		}
	}
	if setup == nil {
		select {
		case served = <-errc:
		case <-ctx.Done():
			logger.Info("shutting down")
		}
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
	return setup
}
