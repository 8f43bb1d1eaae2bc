package main

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

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
	client := ent.NewClient(ent.Driver(entsql.OpenDB("postgres", db)))
	acc := accounts.New(client, auth.NewTokens(cfg.JWTSecret, time.Hour))
	srv := httptest.NewServer(routes(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, db, client, acc))
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

func TestServeStartsMigratesBootstrapsAndStops(t *testing.T) {
	t.Setenv("DATABASE_URL", dbtest.URL(t))
	t.Setenv("JWT_SECRET", strings.Repeat("j", 40))
	t.Setenv("ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv("ADDR", "127.0.0.1:0")
	t.Setenv("BOOTSTRAP_ADMIN_EMAIL", "first@example.com")
	t.Setenv("BOOTSTRAP_ADMIN_PASSWORD", "first password")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), nil) }()

	db := dbtest.Open(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		_ = db.QueryRow("SELECT count(*) FROM users WHERE email = 'first@example.com' AND role = 'ADMIN'").Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bootstrap admin was not created")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel() // as SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("graceful shutdown returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not shut down")
	}
}
