package telegram_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
)

// The secret part is distinctive so that a leak of it anywhere is found.
const (
	botSecret = "AAF-distinctiveSECRET_zq7xk2Lw9pQ"
	botToken  = "7350172046:" + botSecret
	hookURL   = "https://switchboard.example.com/webhooks/telegram/abc"
)

var botUser = telegram.User{ID: 7350172046, IsBot: true, FirstName: "Switchboard", Username: "switchboard_bot"}

func newFake(t *testing.T) (*telegramtest.Server, *telegram.Client) {
	t.Helper()
	s := telegramtest.NewServer(t)
	s.AddBot(botToken, botUser)
	return s, telegram.New(s.URL, nil)
}

// assertNoToken fails if err's text or fields show any part of the token.
func assertNoToken(t *testing.T, err error) {
	t.Helper()
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(text, botSecret) || strings.Contains(text, url.PathEscape(botSecret)) {
			t.Errorf("error shows the token: %s", text)
		}
	}
}

func TestGetMe(t *testing.T) {
	t.Parallel()
	_, c := newFake(t)
	got, err := c.GetMe(context.Background(), botToken)
	if err != nil {
		t.Fatalf("GetMe: %v", err)
	}
	if diff := cmp.Diff(&botUser, got); diff != "" {
		t.Errorf("GetMe (-want +got):\n%s", diff)
	}
}

func TestSetWebhook(t *testing.T) {
	t.Parallel()
	secret := telegram.NewSecretToken()
	tests := []struct {
		name      string
		params    telegram.WebhookParams
		wantBody  map[string]any
		wantState telegramtest.WebhookState
		wantInfo  telegram.WebhookInfo
	}{
		{
			name:      "url only",
			params:    telegram.WebhookParams{URL: hookURL},
			wantBody:  map[string]any{"url": hookURL},
			wantState: telegramtest.WebhookState{URL: hookURL, MaxConnections: 40, Set: true},
			wantInfo:  telegram.WebhookInfo{URL: hookURL, MaxConnections: 40, IPAddress: "<unknown>"},
		},
		{
			name: "all parameters",
			params: telegram.WebhookParams{
				URL:                hookURL,
				SecretToken:        secret,
				AllowedUpdates:     []string{"message", "edited_message"},
				MaxConnections:     10,
				DropPendingUpdates: true,
			},
			wantBody: map[string]any{
				"url":                  hookURL,
				"secret_token":         secret,
				"allowed_updates":      []any{"message", "edited_message"},
				"max_connections":      float64(10),
				"drop_pending_updates": true,
			},
			wantState: telegramtest.WebhookState{
				URL: hookURL, SecretToken: secret, AllowedUpdates: []string{"message", "edited_message"}, MaxConnections: 10, Set: true,
			},
			wantInfo: telegram.WebhookInfo{
				URL: hookURL, MaxConnections: 10, AllowedUpdates: []string{"message", "edited_message"}, IPAddress: "<unknown>",
			},
		},
		{
			name:      "empty allowed updates is sent, meaning the default set",
			params:    telegram.WebhookParams{URL: hookURL, AllowedUpdates: []string{}},
			wantBody:  map[string]any{"url": hookURL, "allowed_updates": []any{}},
			wantState: telegramtest.WebhookState{URL: hookURL, MaxConnections: 40, Set: true},
			wantInfo:  telegram.WebhookInfo{URL: hookURL, MaxConnections: 40, IPAddress: "<unknown>"},
		},
		{
			name:      "empty url removes the webhook",
			params:    telegram.WebhookParams{URL: ""},
			wantBody:  map[string]any{"url": ""},
			wantState: telegramtest.WebhookState{},
			wantInfo:  telegram.WebhookInfo{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newFake(t)
			ctx := context.Background()
			if err := c.SetWebhook(ctx, botToken, tt.params); err != nil {
				t.Fatalf("SetWebhook: %v", err)
			}
			calls := s.Calls("setWebhook")
			if len(calls) != 1 {
				t.Fatalf("setWebhook calls = %d, want 1", len(calls))
			}
			if diff := cmp.Diff(tt.wantBody, calls[0]); diff != "" {
				t.Errorf("request body (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantState, s.Webhook(botToken)); diff != "" {
				t.Errorf("fake's webhook (-want +got):\n%s", diff)
			}
			info, err := c.GetWebhookInfo(ctx, botToken)
			if err != nil {
				t.Fatalf("GetWebhookInfo: %v", err)
			}
			if diff := cmp.Diff(&tt.wantInfo, info); diff != "" {
				t.Errorf("GetWebhookInfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetWebhookInfoLastError(t *testing.T) {
	t.Parallel()
	s, c := newFake(t)
	ctx := context.Background()
	if err := c.SetWebhook(ctx, botToken, telegram.WebhookParams{URL: hookURL}); err != nil {
		t.Fatalf("SetWebhook: %v", err)
	}
	at := time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC)
	s.SetLastError(botToken, at, "Wrong response from the webhook: 502 Bad Gateway")
	got, err := c.GetWebhookInfo(ctx, botToken)
	if err != nil {
		t.Fatalf("GetWebhookInfo: %v", err)
	}
	want := &telegram.WebhookInfo{
		URL:              hookURL,
		LastErrorDate:    at,
		LastErrorMessage: "Wrong response from the webhook: 502 Bad Gateway",
		MaxConnections:   40,
		IPAddress:        "<unknown>",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetWebhookInfo (-want +got):\n%s", diff)
	}
}

func TestDeleteWebhook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		setFirst    bool
		dropPending bool
		wantBody    map[string]any
	}{
		{name: "set webhook", setFirst: true, wantBody: map[string]any{}},
		{name: "dropping pending updates", setFirst: true, dropPending: true, wantBody: map[string]any{"drop_pending_updates": true}},
		{name: "no webhook", wantBody: map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newFake(t)
			ctx := context.Background()
			if tt.setFirst {
				if err := c.SetWebhook(ctx, botToken, telegram.WebhookParams{URL: hookURL}); err != nil {
					t.Fatalf("SetWebhook: %v", err)
				}
			}
			if err := c.DeleteWebhook(ctx, botToken, tt.dropPending); err != nil {
				t.Fatalf("DeleteWebhook: %v", err)
			}
			if got := s.Webhook(botToken); got.Set || got.URL != "" {
				t.Errorf("fake still holds webhook %+v", got)
			}
			calls := s.Calls("deleteWebhook")
			if len(calls) != 1 {
				t.Fatalf("deleteWebhook calls = %d, want 1", len(calls))
			}
			if diff := cmp.Diff(tt.wantBody, calls[0]); diff != "" {
				t.Errorf("request body (-want +got):\n%s", diff)
			}
			info, err := c.GetWebhookInfo(ctx, botToken)
			if err != nil {
				t.Fatalf("GetWebhookInfo: %v", err)
			}
			if info.URL != "" {
				t.Errorf("GetWebhookInfo URL = %q, want none", info.URL)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	getMe := func(token string) func(*telegram.Client) error {
		return func(c *telegram.Client) error {
			_, err := c.GetMe(context.Background(), token)
			return err
		}
	}
	setWebhook := func(p telegram.WebhookParams) func(*telegram.Client) error {
		return func(c *telegram.Client) error {
			return c.SetWebhook(context.Background(), botToken, p)
		}
	}
	tests := []struct {
		name  string
		setup func(*telegramtest.Server)
		call  func(*telegram.Client) error
		want  platform.Error // Platform and Op are always checked too
	}{
		{
			name:  "revoked token",
			setup: func(s *telegramtest.Server) { s.RevokeBot(botToken) },
			call:  getMe(botToken),
			want:  platform.Error{Op: "getMe", Kind: platform.Auth, Status: 401, Code: 401, Message: "Unauthorized"},
		},
		{
			name: "unknown well-formed token",
			call: getMe("7350172046:" + strings.Repeat("x", 35)),
			want: platform.Error{Op: "getMe", Kind: platform.Auth, Status: 401, Code: 401, Message: "Unauthorized"},
		},
		{
			name: "malformed token without colon",
			call: getMe("7350172046" + botSecret),
			want: platform.Error{Op: "getMe", Kind: platform.Auth, Status: 401, Code: 401, Message: "Unauthorized: invalid token specified"},
		},
		{
			name: "malformed token starting with 0",
			call: getMe("0" + botToken),
			want: platform.Error{Op: "getMe", Kind: platform.Auth, Status: 401, Code: 401, Message: "Unauthorized: invalid token specified"},
		},
		{
			name: "malformed token longer than 80",
			call: getMe(botToken + strings.Repeat("y", 50)),
			want: platform.Error{Op: "getMe", Kind: platform.Auth, Status: 401, Code: 401, Message: "Unauthorized: invalid token specified"},
		},
		{
			name: "malformed token with slash",
			call: getMe("7350172046:AAF/" + botSecret),
			want: platform.Error{Op: "getMe", Kind: platform.Auth, Status: 401, Code: 401, Message: "Unauthorized: invalid token specified"},
		},
		{
			name: "malformed token with non-numeric bot id",
			call: getMe("bot:" + botSecret),
			want: platform.Error{Op: "getMe", Kind: platform.Auth, Status: 421, Code: 421, Message: "Misdirected Request: unallowed token specified"},
		},
		{
			name:  "flood control",
			setup: func(s *telegramtest.Server) { s.FailNext("getMe", 429, 429, "Too Many Requests: retry after 7", 7) },
			call:  getMe(botToken),
			want:  platform.Error{Op: "getMe", Kind: platform.RateLimited, Status: 429, Code: 429, Message: "Too Many Requests: retry after 7", RetryAfter: 7 * time.Second},
		},
		{
			name:  "flood control without parameters",
			setup: func(s *telegramtest.Server) { s.FailNext("getMe", 429, 429, "Too Many Requests: retry after 3", 0) },
			call:  getMe(botToken),
			want:  platform.Error{Op: "getMe", Kind: platform.RateLimited, Status: 429, Code: 429, Message: "Too Many Requests: retry after 3", RetryAfter: 3 * time.Second},
		},
		{
			name:  "server error",
			setup: func(s *telegramtest.Server) { s.FailNext("getWebhookInfo", 500, 500, "Internal Server Error", 0) },
			call: func(c *telegram.Client) error {
				_, err := c.GetWebhookInfo(context.Background(), botToken)
				return err
			},
			want: platform.Error{Op: "getWebhookInfo", Kind: platform.Transient, Status: 500, Code: 500, Message: "Internal Server Error"},
		},
		{
			name:  "forbidden",
			setup: func(s *telegramtest.Server) { s.FailNext("deleteWebhook", 403, 403, "Forbidden: bot was kicked", 0) },
			call:  func(c *telegram.Client) error { return c.DeleteWebhook(context.Background(), botToken, false) },
			want:  platform.Error{Op: "deleteWebhook", Kind: platform.Auth, Status: 403, Code: 403, Message: "Forbidden: bot was kicked"},
		},
		{
			name: "setWebhook secret with unallowed characters",
			call: setWebhook(telegram.WebhookParams{URL: hookURL, SecretToken: "abc+def/ghi="}),
			want: platform.Error{Op: "setWebhook", Kind: platform.Permanent, Status: 400, Code: 400, Message: "Bad Request: secret token contains unallowed characters"},
		},
		{
			name: "setWebhook secret too long",
			call: setWebhook(telegram.WebhookParams{URL: hookURL, SecretToken: strings.Repeat("a", 257)}),
			want: platform.Error{Op: "setWebhook", Kind: platform.Permanent, Status: 400, Code: 400, Message: "Bad Request: secret token is too long"},
		},
		{
			name: "setWebhook plain http url",
			call: setWebhook(telegram.WebhookParams{URL: "http://switchboard.example.com/hook"}),
			want: platform.Error{Op: "setWebhook", Kind: platform.Permanent, Status: 400, Code: 400, Message: "Bad Request: invalid webhook URL specified"},
		},
		{
			name: "setWebhook unsupported port",
			call: setWebhook(telegram.WebhookParams{URL: "https://switchboard.example.com:9443/hook"}),
			want: platform.Error{Op: "setWebhook", Kind: platform.Permanent, Status: 400, Code: 400, Message: "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newFake(t)
			if tt.setup != nil {
				tt.setup(s)
			}
			err := tt.call(c)
			var pe *platform.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v (%T), want *platform.Error", err, err)
			}
			tt.want.Platform = "telegram"
			if diff := cmp.Diff(&tt.want, pe); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			assertNoToken(t, err)
		})
	}
}

// TestUnreadableResponses covers answers that are not Bot API envelopes, as
// from a proxy in front of the API or a wrong TELEGRAM_API_URL.
func TestUnreadableResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		wantKind platform.Kind
	}{
		{name: "bad gateway page", status: 502, body: "<html>502 Bad Gateway</html>", wantKind: platform.Transient},
		{name: "gateway timeout, empty", status: 504, wantKind: platform.Transient},
		{name: "not found page", status: 404, body: "404 page not found", wantKind: platform.Permanent},
		{name: "proxy auth", status: 401, body: `{"error":"unauthorized"}`, wantKind: platform.Auth},
		{name: "200 with html", status: 200, body: "<html>hello</html>", wantKind: platform.Transient},
		{name: "200 with a result of the wrong shape", status: 200, body: `{"ok":true,"result":"me"}`, wantKind: platform.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			_, err := telegram.New(srv.URL, nil).GetMe(context.Background(), botToken)
			var pe *platform.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v (%T), want *platform.Error", err, err)
			}
			if pe.Kind != tt.wantKind || pe.Status != tt.status {
				t.Errorf("error = %v (kind %v, status %d), want kind %v, status %d", err, pe.Kind, pe.Status, tt.wantKind, tt.status)
			}
			if tt.body != "" && strings.Contains(err.Error(), tt.body) {
				t.Errorf("error %q repeats the body", err)
			}
			assertNoToken(t, err)
		})
	}
}

func TestServerDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c := telegram.New(srv.URL, nil)
	_, err := c.GetMe(context.Background(), botToken)
	var pe *platform.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want *platform.Error", err, err)
	}
	if pe.Kind != platform.Transient || pe.Status != 0 || pe.Op != "getMe" {
		t.Errorf("error = %#v, want a Transient getMe error without status", pe)
	}
	assertNoToken(t, err)
}

// TestErrorsNeverShowToken runs every method into every kind of failure: the
// token is in each request URL and must not reach any error.
func TestErrorsNeverShowToken(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A hostile or broken server quoting the request path back.
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(r.URL.Path))
	}))
	t.Cleanup(echo.Close)
	fake, _ := newFake(t)
	fake.RevokeBot(botToken)

	methods := map[string]func(*telegram.Client, string) error{
		"getMe": func(c *telegram.Client, token string) error {
			_, err := c.GetMe(context.Background(), token)
			return err
		},
		"setWebhook": func(c *telegram.Client, token string) error {
			return c.SetWebhook(context.Background(), token, telegram.WebhookParams{URL: hookURL, SecretToken: "x"})
		},
		"getWebhookInfo": func(c *telegram.Client, token string) error {
			_, err := c.GetWebhookInfo(context.Background(), token)
			return err
		},
		"deleteWebhook": func(c *telegram.Client, token string) error {
			return c.DeleteWebhook(context.Background(), token, true)
		},
	}
	servers := map[string]string{"down": down.URL, "echo": echo.URL, "revoked": fake.URL, "bad base url": "http://[::1"}
	tokens := map[string]string{
		"token":                botToken,
		"token with slash":     "7350172046:AAF/" + botSecret,
		"token with space":     botToken + " ",
		"token with query":     "7350172046:?x=" + botSecret,
		"token without colon:": "7350172046" + botSecret,
	}
	for sname, base := range servers {
		for tname, token := range tokens {
			for mname, call := range methods {
				t.Run(sname+"/"+tname+"/"+mname, func(t *testing.T) {
					t.Parallel()
					err := call(telegram.New(base, nil), token)
					if err == nil {
						t.Fatal("no error")
					}
					assertNoToken(t, err)
				})
			}
		}
	}
}

func TestValidToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		token   string
		wantErr string // "" for valid
	}{
		{name: "real shape", token: botToken},
		{name: "secret of exactly 30", token: "1:" + strings.Repeat("a", 30)},
		{name: "empty", token: "", wantErr: "token is empty"},
		{name: "trailing newline", token: botToken + "\n", wantErr: "whitespace"},
		{name: "leading space", token: " " + botToken, wantErr: "whitespace"},
		{name: "no colon", token: "7350172046" + botSecret, wantErr: "no ':'"},
		{name: "no bot id", token: ":" + botSecret, wantErr: "no bot id"},
		{name: "letters in bot id", token: "73501a2046:" + botSecret, wantErr: "digits only"},
		{name: "negative bot id", token: "-7350172046:" + botSecret, wantErr: "digits only"},
		{name: "bot id starting with 0", token: "07350172046:" + botSecret, wantErr: "must not start with 0"},
		{name: "bot id of 2^54", token: "18014398509481984:" + botSecret, wantErr: "too large"},
		{name: "short secret", token: "7350172046:" + strings.Repeat("a", 29), wantErr: "at least 30"},
		{name: "secret with slash", token: "7350172046:AAF/" + botSecret, wantErr: "only A-Z"},
		{name: "secret with second colon", token: "7350172046:AAF:" + botSecret, wantErr: "only A-Z"},
		{name: "too long", token: "7350172046:" + strings.Repeat("a", 70), wantErr: "longer than 80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := telegram.ValidToken(tt.token)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ValidToken = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("ValidToken = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("ValidToken = %q, want it to contain %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), botSecret) {
				t.Errorf("ValidToken error shows the token: %v", err)
			}
		})
	}
}

func TestBotID(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, token, want string }{
		{name: "token", token: botToken, want: "7350172046"},
		{name: "no colon gives nothing, not the secret", token: "7350172046" + botSecret, want: ""},
		{name: "empty", token: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := telegram.BotID(tt.token); got != tt.want {
				t.Errorf("BotID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewSecretToken(t *testing.T) {
	t.Parallel()
	s, c := newFake(t)
	seen := map[string]bool{}
	for range 100 {
		tok := telegram.NewSecretToken()
		if len(tok) != 64 {
			t.Fatalf("len = %d, want 64", len(tok))
		}
		if strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			t.Fatalf("%q has characters outside [A-Za-z0-9_-]", tok)
		}
		if seen[tok] {
			t.Fatalf("%q drawn twice", tok)
		}
		seen[tok] = true
	}
	secret := telegram.NewSecretToken()
	if err := c.SetWebhook(context.Background(), botToken, telegram.WebhookParams{URL: hookURL, SecretToken: secret}); err != nil {
		t.Fatalf("SetWebhook with a new secret: %v", err)
	}
	if got := s.Webhook(botToken).SecretToken; got != secret {
		t.Errorf("fake stored secret %q, want %q", got, secret)
	}
}
