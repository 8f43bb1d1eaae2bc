package graphapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
)

const (
	appID     = "424242424242"
	appSecret = "APPSECRET-graphapi-q7Zx"
	shortTok  = "SHORTTOKEN-graphapi-b3Kp"
	longTok   = "LONGTOKEN-graphapi-m9Wd"
	pageTok   = "PAGETOKEN-graphapi-t5Rv"
)

var secrets = []string{appSecret, shortTok, longTok, pageTok}

func assertNoSecrets(t *testing.T, err error) {
	t.Helper()
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("error %q contains secret %q", text, s)
			}
		}
	}
}

func newFake(t *testing.T) (*graphtest.Server, *graphapi.Client) {
	t.Helper()
	s := graphtest.NewServer(t, appID, appSecret)
	s.AddUser(shortTok, longTok, 5183944, graphtest.FakePage{ID: "1001", Name: "Page", Token: pageTok})
	return s, graphapi.New(s.URL, "v21.0", nil)
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		code, subcode int
		message       string
		wantKind      platform.Kind
		wantMessage   string
	}{
		{name: "expired token", status: 400, code: 190, subcode: 463, message: "Error validating access token: Session has expired", wantKind: platform.Auth},
		{name: "password changed", status: 400, code: 190, subcode: 460, message: "Error validating access token: password changed", wantKind: platform.Auth},
		{name: "session invalid", status: 400, code: 102, message: "Session key invalid", wantKind: platform.Auth},
		{name: "permission denied", status: 403, code: 10, message: "(#10) Permission denied", wantKind: platform.Auth},
		{name: "permissions error", status: 403, code: 200, message: "(#200) Permissions error", wantKind: platform.Auth},
		{name: "permissions disallow message", status: 400, code: 230, message: "(#230) Permissions disallow message to user", wantKind: platform.Auth},
		{name: "app rate limit", status: 400, code: 4, message: "(#4) Application request limit reached", wantKind: platform.RateLimited},
		{name: "user rate limit", status: 400, code: 17, message: "(#17) User request limit reached", wantKind: platform.RateLimited},
		{name: "page rate limit", status: 400, code: 32, message: "(#32) Page request limit reached", wantKind: platform.RateLimited},
		{name: "calls within one hour", status: 400, code: 613, message: "(#613) Calls to this api have exceeded the rate limit.", wantKind: platform.RateLimited},
		{name: "business use case limit", status: 400, code: 80006, message: "(#80006) There have been too many messenger api calls", wantKind: platform.RateLimited},
		{name: "unknown error", status: 500, code: 1, message: "An unknown error occurred", wantKind: platform.Transient},
		{name: "service unavailable", status: 503, code: 2, message: "Service temporarily unavailable", wantKind: platform.Transient},
		{name: "invalid parameter", status: 400, code: 100, subcode: 33, message: "(#100) Invalid parameter", wantKind: platform.Permanent},
		{name: "unlisted code", status: 400, code: 551, message: "This person isn't available right now.", wantKind: platform.Permanent},
		{name: "plain 500", status: 500, message: "<html>oops</html>", wantKind: platform.Transient, wantMessage: "HTTP 500 Internal Server Error"},
		{name: "plain 502", status: 502, message: "bad gateway", wantKind: platform.Transient, wantMessage: "HTTP 502 Bad Gateway"},
		{name: "plain 429", status: 429, message: "slow down", wantKind: platform.RateLimited, wantMessage: "HTTP 429 Too Many Requests"},
		{name: "plain 404", status: 404, message: "not here", wantKind: platform.Permanent, wantMessage: "HTTP 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, g := newFake(t)
			s.FailNext("GET /me", tt.status, tt.code, tt.subcode, tt.message)
			err := g.Get(context.Background(), "facebook", "/me", longTok, nil, nil)
			var pe *platform.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *platform.Error", err)
			}
			want := &platform.Error{
				Platform: "facebook", Op: "GET /me", Kind: tt.wantKind, Status: tt.status,
				Code: tt.code, Subcode: tt.subcode, Message: tt.message,
			}
			if tt.wantMessage != "" {
				want.Message = tt.wantMessage
			}
			if diff := cmp.Diff(want, pe); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFakeServerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		token       string
		path        string
		wantKind    platform.Kind
		wantCode    int
		wantSubcode int
	}{
		{name: "missing token", path: "/me", wantKind: platform.Auth, wantCode: 190},
		{name: "unknown token", token: "NOT-A-TOKEN", path: "/me", wantKind: platform.Auth, wantCode: 190},
		{name: "expired token", token: pageTok, path: "/me", wantKind: platform.Auth, wantCode: 190, wantSubcode: 463},
		{name: "unknown object", token: longTok, path: "/999/whatever", wantKind: platform.Permanent, wantCode: 100, wantSubcode: 33},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, g := newFake(t)
			s.ExpireToken(pageTok)
			err := g.Get(context.Background(), "facebook", tt.path, tt.token, nil, nil)
			var pe *platform.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *platform.Error", err)
			}
			if pe.Kind != tt.wantKind || pe.Code != tt.wantCode || pe.Subcode != tt.wantSubcode || pe.Status != http.StatusBadRequest {
				t.Errorf("got kind %v status %d code %d subcode %d, want %v 400 %d %d", pe.Kind, pe.Status, pe.Code, pe.Subcode, tt.wantKind, tt.wantCode, tt.wantSubcode)
			}
			assertNoSecrets(t, err)
		})
	}
}

// seen is one request as the server received it.
type seen struct {
	Method, Path, RawQuery, Auth, ContentType, Body string
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"12345678901234567890"}`)
	}))
	t.Cleanup(srv.Close)
	g := graphapi.New(srv.URL+"/", "v21.0", srv.Client())
	ctx := context.Background()

	tests := []struct {
		name string
		call func() error
		want seen
	}{
		{
			name: "get",
			call: func() error {
				return g.Get(ctx, "facebook", "/me/accounts", pageTok, url.Values{"limit": {"100"}}, nil)
			},
			want: seen{Method: "GET", Path: "/v21.0/me/accounts", RawQuery: "limit=100", Auth: "Bearer " + pageTok},
		},
		{
			name: "path without leading slash",
			call: func() error { return g.Get(ctx, "facebook", "me", pageTok, nil, nil) },
			want: seen{Method: "GET", Path: "/v21.0/me", Auth: "Bearer " + pageTok},
		},
		{
			name: "unversioned",
			call: func() error {
				return g.GetUnversioned(ctx, "facebook", "/oauth/access_token", "", url.Values{"grant_type": {"fb_exchange_token"}}, nil)
			},
			want: seen{Method: "GET", Path: "/oauth/access_token", RawQuery: "grant_type=fb_exchange_token"},
		},
		{
			name: "post form",
			call: func() error {
				return g.Post(ctx, "facebook", "/1001/subscribed_apps", pageTok, url.Values{"subscribed_fields": {"messages,message_reads"}}, nil)
			},
			want: seen{Method: "POST", Path: "/v21.0/1001/subscribed_apps", Auth: "Bearer " + pageTok,
				ContentType: "application/x-www-form-urlencoded", Body: "subscribed_fields=messages%2Cmessage_reads"},
		},
		{
			name: "delete",
			call: func() error { return g.Delete(ctx, "facebook", "/1001/subscribed_apps", pageTok, nil, nil) },
			want: seen{Method: "DELETE", Path: "/v21.0/1001/subscribed_apps", Auth: "Bearer " + pageTok},
		},
		{
			name: "post json",
			call: func() error {
				return g.Do(ctx, "whatsapp", graphapi.Request{Method: "POST", Path: "/555/messages", Token: pageTok,
					JSON: map[string]string{"messaging_product": "whatsapp"}}, nil)
			},
			want: seen{Method: "POST", Path: "/v21.0/555/messages", Auth: "Bearer " + pageTok,
				ContentType: "application/json", Body: `{"messaging_product":"whatsapp"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the cases share the recording server.
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}

}

func TestNumbersStayExact(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"big":12345678901234567890}`)
	}))
	t.Cleanup(srv.Close)
	var out map[string]any
	if err := graphapi.New(srv.URL, "v21.0", nil).Get(context.Background(), "facebook", "/x", "", nil, &out); err != nil {
		t.Fatal(err)
	}
	if n, ok := out["big"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Errorf("big = %#v, want json.Number 12345678901234567890", out["big"])
	}
}

func TestUndecodableSuccessIsTransient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html>captive portal</html>`)
	}))
	t.Cleanup(srv.Close)
	var out map[string]any
	err := graphapi.New(srv.URL, "v21.0", nil).Get(context.Background(), "facebook", "/me", pageTok, nil, &out)
	if k := platform.KindOf(err); err == nil || k != platform.Transient {
		t.Fatalf("err = %v (kind %v), want transient", err, k)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   time.Duration
	}{
		{name: "seconds", header: "30", want: 30 * time.Second},
		{name: "absent", want: 0},
		{name: "garbage", header: "soon", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"fbtrace_id":"x"}}`)
			}))
			t.Cleanup(srv.Close)
			err := graphapi.New(srv.URL, "v21.0", nil).Get(context.Background(), "facebook", "/me", pageTok, nil, nil)
			var pe *platform.Error
			if !errors.As(err, &pe) || pe.Kind != platform.RateLimited {
				t.Fatalf("err = %v, want rate limited", err)
			}
			if pe.RetryAfter != tt.want {
				t.Errorf("RetryAfter = %v, want %v", pe.RetryAfter, tt.want)
			}
		})
	}
}

func TestNoSecretsInErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	appToken := appID + "|" + appSecret
	tests := []struct {
		name string
		call func(t *testing.T, s *graphtest.Server, g *graphapi.Client) error
	}{
		{
			name: "graph echoes the bearer token",
			call: func(t *testing.T, s *graphtest.Server, g *graphapi.Client) error {
				s.FailNext("GET /me", 400, 190, 0, "Malformed access token "+longTok)
				return g.Get(ctx, "facebook", "/me", longTok, nil, nil)
			},
		},
		{
			name: "graph echoes the app secret",
			call: func(t *testing.T, s *graphtest.Server, g *graphapi.Client) error {
				s.FailNext("GET /debug_token", 400, 190, 0, "Bad app token "+appToken+" secret "+appSecret)
				return g.Get(ctx, "facebook", "/debug_token", appToken, url.Values{"input_token": {pageTok}}, nil)
			},
		},
		{
			name: "graph echoes query credentials",
			call: func(t *testing.T, s *graphtest.Server, g *graphapi.Client) error {
				s.FailNext("/oauth/access_token", 400, 101, 0, "Error validating client secret "+appSecret+" for "+shortTok)
				q := url.Values{"client_secret": {appSecret}, "fb_exchange_token": {shortTok}}
				return g.GetUnversioned(ctx, "facebook", "/oauth/access_token", "", q, nil)
			},
		},
		{
			name: "graph echoes a URL with the token",
			call: func(t *testing.T, s *graphtest.Server, g *graphapi.Client) error {
				s.FailNext("GET /me", 400, 100, 0, "see https://graph.facebook.com/me?access_token=x"+pageTok)
				return g.Get(ctx, "facebook", "/me", longTok, nil, nil)
			},
		},
		{
			name: "server down, credentials in query",
			call: func(t *testing.T, s *graphtest.Server, g *graphapi.Client) error {
				s.Close()
				q := url.Values{"client_secret": {appSecret}, "fb_exchange_token": {shortTok}, "access_token": {pageTok}}
				err := g.GetUnversioned(ctx, "facebook", "/oauth/access_token", longTok, q, nil)
				if k := platform.KindOf(err); k != platform.Transient {
					t.Errorf("kind = %v, want transient", k)
				}
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, g := newFake(t)
			err := tt.call(t, s, g)
			if err == nil {
				t.Fatal("no error")
			}
			assertNoSecrets(t, err)
		})
	}
}
