package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
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

// A running server whose Telegram URL points at a fake connects a bot end to
// end: login, createCampaign, connectTelegram, and the fake saw setWebhook
// with a secret_token and our webhook URL.
func TestServeConnectsTelegramAgainstAFake(t *testing.T) {
	tg := telegramtest.NewServer(t)
	const botToken = "987654321:AAE-serveTestSecret_0123456789abcdef"
	tg.AddBot(botToken, telegram.User{ID: 987654321, IsBot: true, FirstName: "Serve", Username: "serve_bot"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("DATABASE_URL", dbtest.URL(t))
	t.Setenv("JWT_SECRET", strings.Repeat("j", 40))
	t.Setenv("ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv("ADDR", addr)
	t.Setenv("PUBLIC_URL", "https://switchboard.example.com")
	t.Setenv("TELEGRAM_API_URL", tg.URL)
	t.Setenv("BOOTSTRAP_ADMIN_EMAIL", "first@example.com")
	t.Setenv("BOOTSTRAP_ADMIN_PASSWORD", "first password")
	t.Setenv("LOG_LEVEL", "error")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), nil) }()

	gql := func(token, query string, vars map[string]any) map[string]any {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Data   map[string]any
			Errors []any
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
			t.Fatalf("%s: %v %v", query, err, out.Errors)
		}
		return out.Data
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	login := gql("", `mutation { login(email: "first@example.com", password: "first password") { token } }`, nil)
	token := login["login"].(map[string]any)["token"].(string)
	cmp := gql(token, `mutation { createCampaign(input: {name: "Serve test"}) { id } }`, nil)
	cid := cmp["createCampaign"].(map[string]any)["id"].(string)
	conn := gql(token, `mutation($c: ID!, $t: String!) { connectTelegram(input: {campaignID: $c, botToken: $t}) { id status webhook { url } } }`,
		map[string]any{"c": cid, "t": botToken})["connectTelegram"].(map[string]any)
	id := conn["id"].(string)
	if conn["status"] != "ACTIVE" || !strings.HasSuffix(conn["webhook"].(map[string]any)["url"].(string), "/webhooks/telegram/"+id) {
		t.Fatalf("connectTelegram = %v", conn)
	}
	calls := tg.Calls("setWebhook")
	if len(calls) != 1 || calls[0]["secret_token"] == nil || calls[0]["secret_token"] == "" || calls[0]["url"] != "https://switchboard.example.com/webhooks/telegram/"+id {
		t.Fatalf("setWebhook calls = %v", calls)
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
