package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a server process for the crash test.
	if os.Getenv("SWITCHBOARD_TEST_CHILD") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := run(ctx, os.Stderr, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dbtest.Main(m)
}

func testConfig(t *testing.T, extra map[string]string) *config.Config {
	t.Helper()
	vals := map[string]string{
		"DATABASE_URL":   dbtest.URL(t),
		"JWT_SECRET":     strings.Repeat("j", 40),
		"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32)),
	}
	for k, v := range extra {
		vals[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vals[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestHealthAndReadiness(t *testing.T) {
	cfg := testConfig(t, nil)
	db := dbtest.Open(t)
	d, err := newDeps(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, db, d))
	defer srv.Close()

	check := func(path string, want int, body string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || !strings.Contains(string(b), body) || resp.Header.Get("X-Request-ID") == "" {
			t.Fatalf("GET %s = %d %s, want %d containing %q and a request id", path, resp.StatusCode, b, want, body)
		}
	}
	check("/healthz", 200, `"ok"`)
	check("/readyz", 200, `"ready"`)

	// A database that is reachable but not migrated is not ready.
	// Without its migration record the database counts as not migrated.
	if _, err := db.Exec("ALTER TABLE schema_migrations RENAME TO schema_migrations_hidden"); err != nil {
		t.Fatal(err)
	}
	check("/readyz", 503, "not migrated")
	if _, err := db.Exec("ALTER TABLE schema_migrations_hidden RENAME TO schema_migrations"); err != nil {
		t.Fatal(err)
	}
	check("/readyz", 200, `"ready"`)
}

// ALLOWED_ORIGINS: listed browser origins may open websockets, others not;
// clients without an Origin header are accepted (their token authenticates).
func TestWebsocketOrigins(t *testing.T) {
	cfg := testConfig(t, map[string]string{"ALLOWED_ORIGINS": "https://app.example.com"})
	db := dbtest.Open(t)
	d, err := newDeps(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, db, d))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	for origin, ok := range map[string]bool{"https://app.example.com": true, "https://evil.example.com": false, "": true} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial(url, h)
		if ok != (err == nil) {
			t.Fatalf("origin %q: err %v (status %v), want allowed=%v", origin, err, resp, ok)
		}
		if c != nil {
			c.Close()
		}
	}
}
