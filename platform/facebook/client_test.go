package facebook_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
)

// Distinctive credentials, so a leak into error text is easy to spot.
const (
	appID      = "770077007700"
	appSecret  = "APPSECRET-fb-Hq4nV8"
	shortTok   = "SHORTTOKEN-fb-Zr2mK5"
	longTok    = "LONGTOKEN-fb-Pw7cJ1"
	pageTokA   = "PAGETOKEN-A-fb-Lx3sD9"
	pageTokB   = "PAGETOKEN-B-fb-Nv6yT4"
	otherShort = "SHORTTOKEN-other-fb-Gk8eQ2"
	otherLong  = "LONGTOKEN-other-fb-Uf5hW7"
	otherPage  = "PAGETOKEN-other-fb-Cb1oR3"
	lifetime   = 5183944
)

var secrets = []string{appSecret, shortTok, longTok, pageTokA, pageTokB, otherShort, otherLong, otherPage}

var (
	pageA = graphtest.FakePage{
		ID: "1111", Name: "Alpha Bakery", Token: pageTokA, PictureURL: "https://cdn.example/alpha.jpg",
		Followers: 1234, Tasks: []string{"MANAGE", "MESSAGING"}, Scopes: facebook.RequiredPermissions,
	}
	pageB = graphtest.FakePage{
		ID: "2222", Name: "Beta Books", Token: pageTokB, Tasks: []string{"MESSAGING"},
		Scopes: []string{"pages_show_list"},
	}
	foreignPage = graphtest.FakePage{ID: "9999", Name: "Someone Else", Token: otherPage}
)

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

func assertKind(t *testing.T, err error, kind platform.Kind, code, subcode int) {
	t.Helper()
	var pe *platform.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *platform.Error", err)
	}
	if pe.Platform != "facebook" || pe.Kind != kind || pe.Code != code || pe.Subcode != subcode {
		t.Errorf("got %s kind %v code %d subcode %d, want facebook %v %d %d", pe.Platform, pe.Kind, pe.Code, pe.Subcode, kind, code, subcode)
	}
	assertNoSecrets(t, err)
}

// setup returns a fake Graph with a user managing pages A and B, another
// user managing foreignPage, and a client for the app.
func setup(t *testing.T) (*graphtest.Server, *facebook.Client) {
	t.Helper()
	s := graphtest.NewServer(t, appID, appSecret)
	s.AddUser(shortTok, longTok, lifetime, pageA, pageB)
	s.AddUser(otherShort, otherLong, 0, foreignPage)
	return s, facebook.New(graphapi.New(s.URL, "v21.0", nil), appID, appSecret)
}

func TestExchangeUserToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		secret     string
		short      string
		expire     string
		wantToken  string
		wantExpiry bool
		wantKind   platform.Kind
		wantCode   int
		wantSub    int
	}{
		{name: "long-lived with lifetime", secret: appSecret, short: shortTok, wantToken: longTok, wantExpiry: true},
		{name: "no expires_in", secret: appSecret, short: otherShort, wantToken: otherLong},
		{name: "wrong app secret", secret: "WRONGSECRET-fb-Yd0aF6", short: shortTok, wantKind: platform.Permanent, wantCode: 101},
		{name: "unknown token", secret: appSecret, short: "NOT-A-TOKEN-fb", wantKind: platform.Auth, wantCode: 190},
		{name: "expired token", secret: appSecret, short: shortTok, expire: shortTok, wantKind: platform.Auth, wantCode: 190, wantSub: 463},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := setup(t)
			if tt.expire != "" {
				s.ExpireToken(tt.expire)
			}
			c := facebook.New(graphapi.New(s.URL, "v21.0", nil), appID, tt.secret)
			before := time.Now()
			tok, exp, err := c.ExchangeUserToken(context.Background(), tt.short)
			if tt.wantToken == "" {
				if err == nil {
					t.Fatalf("got token %q, want an error", tok)
				}
				assertKind(t, err, tt.wantKind, tt.wantCode, tt.wantSub)
				if strings.Contains(err.Error(), tt.secret) {
					t.Errorf("error %q contains the secret used", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok != tt.wantToken {
				t.Errorf("token = %q, want %q", tok, tt.wantToken)
			}
			if tt.wantExpiry {
				want := before.Add(lifetime * time.Second)
				if exp.Before(want) || exp.After(time.Now().Add(lifetime*time.Second)) {
					t.Errorf("expiresAt = %v, want about %v", exp, want)
				}
			} else if !exp.IsZero() {
				t.Errorf("expiresAt = %v, want zero", exp)
			}
			// The exchange endpoint is documented without a version.
			if calls := s.Calls(); len(calls) != 1 || calls[0] != "GET /oauth/access_token" {
				t.Errorf("calls = %q", calls)
			}
		})
	}
}

func TestPages(t *testing.T) {
	t.Parallel()
	// 130 pages need two /me/accounts requests at our limit of 100.
	var many []graphtest.FakePage
	for i := range 130 {
		many = append(many, graphtest.FakePage{ID: strconv.Itoa(50000 + i), Name: "Page " + strconv.Itoa(i), Token: "MANYPAGETOKEN-" + strconv.Itoa(i)})
	}
	tests := []struct {
		name      string
		pages     []graphtest.FakePage
		token     string
		wantIDs   int
		wantCalls int
	}{
		{name: "one page of results, long token", pages: []graphtest.FakePage{pageA, pageB}, token: longTok, wantIDs: 2, wantCalls: 1},
		{name: "short token lists too", pages: []graphtest.FakePage{pageA, pageB}, token: shortTok, wantIDs: 2, wantCalls: 1},
		{name: "two pages of results", pages: many, token: longTok, wantIDs: 130, wantCalls: 2},
		{name: "no pages", token: longTok, wantIDs: 0, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := graphtest.NewServer(t, appID, appSecret)
			s.AddUser(shortTok, longTok, lifetime, tt.pages...)
			c := facebook.New(graphapi.New(s.URL, "v21.0", nil), appID, appSecret)
			got, err := c.Pages(context.Background(), tt.token)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantIDs {
				t.Fatalf("got %d pages, want %d", len(got), tt.wantIDs)
			}
			for i, p := range got {
				if p.ID != tt.pages[i].ID || p.AccessToken != tt.pages[i].Token {
					t.Errorf("page %d = %s/%s, want %s/%s", i, p.ID, p.AccessToken, tt.pages[i].ID, tt.pages[i].Token)
				}
			}
			var accountCalls int
			for _, call := range s.Calls() {
				if call == "GET /v21.0/me/accounts" {
					accountCalls++
				}
			}
			if accountCalls != tt.wantCalls {
				t.Errorf("/me/accounts called %d times, want %d (calls %q)", accountCalls, tt.wantCalls, s.Calls())
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		t.Parallel()
		_, c := setup(t)
		got, err := c.Pages(context.Background(), longTok)
		if err != nil {
			t.Fatal(err)
		}
		want := []facebook.Page{
			{ID: "1111", Name: "Alpha Bakery", AccessToken: pageTokA, PictureURL: "https://cdn.example/alpha.jpg", Followers: 1234, Tasks: []string{"MANAGE", "MESSAGING"}},
			{ID: "2222", Name: "Beta Books", AccessToken: pageTokB, Tasks: []string{"MESSAGING"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
	})
}

func TestSubscriptionLifecycle(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	ctx := context.Background()

	if err := c.SubscribeApp(ctx, pageA.ID, pageTokA, facebook.MessengerFields); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(facebook.MessengerFields, s.Subscriptions(pageA.ID)); diff != "" {
		t.Errorf("subscriptions after subscribe (-want +got):\n%s", diff)
	}
	apps, err := c.SubscribedApps(ctx, pageA.ID, pageTokA)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].ID != appID {
		t.Fatalf("apps = %+v, want our app", apps)
	}
	if diff := cmp.Diff(facebook.MessengerFields, apps[0].SubscribedFields); diff != "" {
		t.Errorf("subscribed fields (-want +got):\n%s", diff)
	}
	if got := s.Subscriptions(pageB.ID); got != nil {
		t.Errorf("page B subscriptions = %q, want none", got)
	}

	if err := c.UnsubscribeApp(ctx, pageA.ID, pageTokA); err != nil {
		t.Fatal(err)
	}
	if got := s.Subscriptions(pageA.ID); got != nil {
		t.Errorf("subscriptions after unsubscribe = %q, want none", got)
	}
	apps, err = c.SubscribedApps(ctx, pageA.ID, pageTokA)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 0 {
		t.Errorf("apps after unsubscribe = %+v, want none", apps)
	}
}

func TestSubscribeDefaultsToMessengerFields(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	if err := c.SubscribeApp(context.Background(), pageB.ID, pageTokB, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(facebook.MessengerFields, s.Subscriptions(pageB.ID)); diff != "" {
		t.Errorf("subscriptions (-want +got):\n%s", diff)
	}
}

func TestSubscriptionErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type call func(*facebook.Client) error
	subscribe := func(page, tok string) call {
		return func(c *facebook.Client) error { return c.SubscribeApp(ctx, page, tok, facebook.MessengerFields) }
	}
	unsubscribe := func(page, tok string) call {
		return func(c *facebook.Client) error { return c.UnsubscribeApp(ctx, page, tok) }
	}
	list := func(page, tok string) call {
		return func(c *facebook.Client) error { _, err := c.SubscribedApps(ctx, page, tok); return err }
	}
	tests := []struct {
		name     string
		prepare  func(*graphtest.Server)
		call     call
		wantKind platform.Kind
		wantCode int
		wantSub  int
	}{
		{name: "page of another user", call: subscribe(foreignPage.ID, pageTokA), wantKind: platform.Auth, wantCode: 200},
		{name: "user token instead of page token", call: subscribe(pageA.ID, longTok), wantKind: platform.Auth, wantCode: 210},
		{name: "unknown page", call: list("31337", pageTokA), wantKind: platform.Permanent, wantCode: 100, wantSub: 33},
		{name: "unknown token", call: unsubscribe(pageA.ID, "NOT-A-TOKEN-fb"), wantKind: platform.Auth, wantCode: 190},
		{
			name:    "expired page token",
			prepare: func(s *graphtest.Server) { s.ExpireToken(pageTokA) },
			call:    subscribe(pageA.ID, pageTokA), wantKind: platform.Auth, wantCode: 190, wantSub: 463,
		},
		{
			name: "permissions error",
			prepare: func(s *graphtest.Server) {
				s.FailNext("POST /subscribed_apps", 403, 200, 0, "(#200) Permissions error")
			},
			call: subscribe(pageA.ID, pageTokA), wantKind: platform.Auth, wantCode: 200,
		},
		{
			name: "rate limited",
			prepare: func(s *graphtest.Server) {
				s.FailNext("GET /subscribed_apps", 400, 613, 0, "(#613) Calls to this api have exceeded the rate limit.")
			},
			call: list(pageA.ID, pageTokA), wantKind: platform.RateLimited, wantCode: 613,
		},
		{
			name:    "plain server error",
			prepare: func(s *graphtest.Server) { s.FailNext("DELETE /subscribed_apps", 500, 0, 0, "upstream connect error") },
			call:    unsubscribe(pageA.ID, pageTokA), wantKind: platform.Transient,
		},
		{
			name:    "down",
			prepare: func(s *graphtest.Server) { s.Close() },
			call:    subscribe(pageA.ID, pageTokA), wantKind: platform.Transient,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := setup(t)
			if tt.prepare != nil {
				tt.prepare(s)
			}
			err := tt.call(c)
			if err == nil {
				t.Fatal("no error")
			}
			assertKind(t, err, tt.wantKind, tt.wantCode, tt.wantSub)
		})
	}
}

func TestDebugToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		token     string
		expire    string
		want      facebook.TokenInfo
		wantExpAt bool
	}{
		{
			name:  "page token",
			token: pageTokA,
			want:  facebook.TokenInfo{Valid: true, AppID: appID, UserID: "100000000000001", ProfileID: pageA.ID, Scopes: facebook.RequiredPermissions, Type: "PAGE"},
		},
		{
			name:      "long-lived user token",
			token:     longTok,
			want:      facebook.TokenInfo{Valid: true, AppID: appID, UserID: "100000000000001", Scopes: facebook.RequiredPermissions, Type: "USER"},
			wantExpAt: true,
		},
		{
			name:   "expired page token",
			token:  pageTokB,
			expire: pageTokB,
			want: facebook.TokenInfo{Valid: false, AppID: appID, UserID: "100000000000001", ProfileID: pageB.ID, Scopes: []string{"pages_show_list"}, Type: "PAGE",
				Error: &facebook.TokenError{Code: 190, Subcode: 463, Message: "Error validating access token: Session has expired."}},
		},
		{
			name:  "unknown token",
			token: "NOT-A-TOKEN-fb",
			want:  facebook.TokenInfo{Valid: false, Scopes: []string{}, Error: &facebook.TokenError{Code: 190, Message: "Invalid OAuth access token."}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := setup(t)
			if tt.expire != "" {
				s.ExpireToken(tt.expire)
			}
			got, err := c.DebugToken(context.Background(), tt.token)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantExpAt != !got.ExpiresAt.IsZero() {
				t.Errorf("ExpiresAt = %v, want set: %v", got.ExpiresAt, tt.wantExpAt)
			}
			got.ExpiresAt = time.Time{}
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("token info (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("wrong app secret", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		const wrong = "WRONGSECRET-fb-Ej9iB2"
		c := facebook.New(graphapi.New(s.URL, "v21.0", nil), appID, wrong)
		_, err := c.DebugToken(context.Background(), pageTokA)
		assertKind(t, err, platform.Auth, 190, 0)
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("error %q contains the app secret", err)
		}
	})
}

func TestDownServer(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	s.Close()
	ctx := context.Background()
	calls := map[string]func() error{
		"exchange": func() error { _, _, err := c.ExchangeUserToken(ctx, shortTok); return err },
		"pages":    func() error { _, err := c.Pages(ctx, longTok); return err },
		"debug":    func() error { _, err := c.DebugToken(ctx, pageTokA); return err },
		"list":     func() error { _, err := c.SubscribedApps(ctx, pageA.ID, pageTokA); return err },
		"unsub":    func() error { return c.UnsubscribeApp(ctx, pageA.ID, pageTokA) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if err == nil {
				t.Fatal("no error")
			}
			assertKind(t, err, platform.Transient, 0, 0)
		})
	}
}
