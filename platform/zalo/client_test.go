package zalo_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/platform/zalo/zalotest"
)

const (
	appID     = "1849302716554433221"
	appSecret = "Zs3cr3tAppKeyQwErTy"
	// bigOAID does not survive a float64 round trip.
	bigOAID  = "4318291638716923456"
	authCode = "authcode-7f3a9c21"
	verifier = "verifier-b61e04d8c2f5"
)

var testOA = zalo.OA{ID: bigOAID, Name: "Switchboard Shop", Description: "Hỗ trợ khách hàng", AvatarURL: "https://s160-ava-talk.zadn.vn/a/b.jpg"}

type fixture struct {
	srv    *zalotest.Server
	c      *zalo.Client
	at, rt string // the pair AddOA returned
}

func setup(t *testing.T) *fixture {
	t.Helper()
	srv := zalotest.NewServer(t, appID, appSecret)
	at, rt := srv.AddOA(testOA, authCode, verifier)
	// A trailing slash on the base URLs must not matter.
	return &fixture{srv: srv, c: zalo.New(srv.URL+"/", srv.URL, srv.Client()), at: at, rt: rt}
}

// secrets is every credential the fixture has seen, for leak checks.
func (f *fixture) secrets(extra ...string) []string {
	at, rt := f.srv.CurrentPair(bigOAID)
	return append([]string{appSecret, authCode, verifier, f.at, f.rt, at, rt}, extra...)
}

// wantError checks that err is a zalo *platform.Error of kind (and code,
// when nonzero) whose text holds none of secrets.
func wantError(t *testing.T, err error, kind platform.Kind, code int, secrets []string) *platform.Error {
	t.Helper()
	var pe *platform.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *platform.Error", err, err)
	}
	if pe.Platform != "zalo" {
		t.Errorf("Platform = %q, want zalo", pe.Platform)
	}
	if pe.Kind != kind {
		t.Errorf("Kind = %v, want %v (err: %v)", pe.Kind, kind, err)
	}
	if code != 0 && pe.Code != code {
		t.Errorf("Code = %d, want %d (err: %v)", pe.Code, code, err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error text %q contains a credential %q", err.Error(), s)
		}
	}
	return pe
}

func TestTokenFromCode(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name           string
		prepare        func(f *fixture)
		appID, secret  string
		code, verifier string
		expiresIn      time.Duration
		wantKind       platform.Kind
		wantCode       int // 0 with wantErr false means success
		wantErr        bool
	}{
		{name: "valid code", appID: appID, secret: appSecret, code: authCode, verifier: verifier, expiresIn: 90000 * time.Second},
		{name: "expires_in follows the server", prepare: func(f *fixture) { f.srv.SetExpiresIn(3600) },
			appID: appID, secret: appSecret, code: authCode, verifier: verifier, expiresIn: time.Hour},
		{name: "wrong verifier", appID: appID, secret: appSecret, code: authCode, verifier: "verifier-other",
			wantErr: true, wantKind: platform.Auth, wantCode: zalotest.CodeInvalidVerifier},
		{name: "unknown code", appID: appID, secret: appSecret, code: "authcode-unknown", verifier: verifier,
			wantErr: true, wantKind: platform.Auth, wantCode: zalotest.CodeInvalidCode},
		{name: "code already used",
			prepare: func(f *fixture) {
				if _, err := f.c.TokenFromCode(ctx, appID, appSecret, authCode, verifier); err != nil {
					t.Fatalf("first exchange: %v", err)
				}
			},
			appID: appID, secret: appSecret, code: authCode, verifier: verifier,
			wantErr: true, wantKind: platform.Auth, wantCode: zalotest.CodeInvalidCode},
		{name: "wrong secret", appID: appID, secret: "WrongSecretKey123", code: authCode, verifier: verifier,
			wantErr: true, wantKind: platform.Auth, wantCode: zalotest.CodeInvalidSecret},
		{name: "wrong app id", appID: "999", secret: appSecret, code: authCode, verifier: verifier,
			wantErr: true, wantKind: platform.Auth, wantCode: zalotest.CodeInvalidAppID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			if tt.prepare != nil {
				tt.prepare(f)
			}
			tok, err := f.c.TokenFromCode(ctx, tt.appID, tt.secret, tt.code, tt.verifier)
			if tt.wantErr {
				wantError(t, err, tt.wantKind, tt.wantCode, f.secrets(tt.secret))
				return
			}
			if err != nil {
				t.Fatalf("TokenFromCode: %v", err)
			}
			at, rt := f.srv.CurrentPair(bigOAID)
			if tok.AccessToken != at || tok.RefreshToken != rt {
				t.Errorf("token = %+v, want the server's current pair", tok)
			}
			if tok.ExpiresIn != tt.expiresIn {
				t.Errorf("ExpiresIn = %v, want %v", tok.ExpiresIn, tt.expiresIn)
			}
			// The pair AddOA handed out died when this one was minted.
			_, err = f.c.GetOA(ctx, f.at)
			wantError(t, err, platform.Auth, zalo.CodeAccessTokenInvalid, f.secrets())
		})
	}
}

func TestRefreshToken(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		prepare  func(f *fixture) (secret, refreshToken string)
		wantKind platform.Kind
		wantCode int
		wantErr  bool
		// refreshes and attempts are the server's counts afterwards.
		refreshes, attempts int
	}{
		{name: "new pair",
			prepare:   func(f *fixture) (string, string) { return appSecret, f.rt },
			refreshes: 1, attempts: 1},
		{name: "reused refresh token",
			prepare: func(f *fixture) (string, string) {
				if _, err := f.c.RefreshToken(ctx, appID, appSecret, f.rt); err != nil {
					t.Fatalf("first refresh: %v", err)
				}
				return appSecret, f.rt
			},
			wantErr: true, wantKind: platform.Auth, wantCode: zalotest.CodeInvalidRefreshToken,
			refreshes: 1, attempts: 2},
		{name: "revoked refresh token",
			prepare: func(f *fixture) (string, string) {
				f.srv.RevokeRefreshToken(f.rt)
				return appSecret, f.rt
			},
			wantErr: true, wantKind: platform.Auth, wantCode: zalotest.CodeInvalidRefreshToken,
			refreshes: 0, attempts: 1},
		{name: "unknown refresh token",
			prepare: func(f *fixture) (string, string) { return appSecret, "zrt-never-minted" },
			wantErr: true, wantKind: platform.Auth, wantCode: zalotest.CodeInvalidRefreshToken,
			attempts: 1},
		{name: "wrong secret",
			prepare: func(f *fixture) (string, string) { return "WrongSecretKey123", f.rt },
			wantErr: true, wantKind: platform.Auth, wantCode: zalotest.CodeInvalidSecret,
			attempts: 1},
		{name: "server error",
			prepare: func(f *fixture) (string, string) {
				f.srv.FailNext(zalotest.PathAccessToken, http.StatusInternalServerError, "<html>oops</html>")
				return appSecret, f.rt
			},
			wantErr: true, wantKind: platform.Transient, attempts: 1},
		{name: "rate limited",
			prepare: func(f *fixture) (string, string) {
				f.srv.FailNext(zalotest.PathAccessToken, http.StatusTooManyRequests, `{"error":-14099,"error_description":"Too many requests"}`)
				return appSecret, f.rt
			},
			wantErr: true, wantKind: platform.RateLimited, attempts: 1},
		{name: "4xx with error body",
			prepare: func(f *fixture) (string, string) {
				f.srv.FailNext(zalotest.PathAccessToken, http.StatusBadRequest, `{"error":-14014,"error_name":"invalid_refresh_token"}`)
				return appSecret, f.rt
			},
			wantErr: true, wantKind: platform.Auth, wantCode: -14014, attempts: 1},
		{name: "unreadable 200",
			prepare: func(f *fixture) (string, string) {
				f.srv.FailNext(zalotest.PathAccessToken, http.StatusOK, "<html>gateway</html>")
				return appSecret, f.rt
			},
			wantErr: true, wantKind: platform.Transient, attempts: 1},
		{name: "200 without access token",
			prepare: func(f *fixture) (string, string) {
				f.srv.FailNext(zalotest.PathAccessToken, http.StatusOK, `{"expires_in":"90000"}`)
				return appSecret, f.rt
			},
			wantErr: true, wantKind: platform.Transient, attempts: 1},
		{name: "error description echoing credentials",
			prepare: func(f *fixture) (string, string) {
				f.srv.FailNext(zalotest.PathAccessToken, http.StatusOK,
					`{"error":-14014,"error_description":"Invalid refresh token `+f.rt+` for secret `+appSecret+`"}`)
				return appSecret, f.rt
			},
			wantErr: true, wantKind: platform.Auth, wantCode: -14014, attempts: 1},
		{name: "closed server",
			prepare: func(f *fixture) (string, string) {
				f.srv.Close()
				return appSecret, f.rt
			},
			wantErr: true, wantKind: platform.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			secret, rt := tt.prepare(f)
			tok, err := f.c.RefreshToken(ctx, appID, secret, rt)
			if tt.wantErr {
				wantError(t, err, tt.wantKind, tt.wantCode, f.secrets(secret, rt))
			} else if err != nil {
				t.Fatalf("RefreshToken: %v", err)
			}
			if got := f.srv.Refreshes(); got != tt.refreshes {
				t.Errorf("Refreshes() = %d, want %d", got, tt.refreshes)
			}
			if got := f.srv.RefreshAttempts(); got != tt.attempts {
				t.Errorf("RefreshAttempts() = %d, want %d", got, tt.attempts)
			}
			if tt.wantErr {
				return
			}

			at, newRT := f.srv.CurrentPair(bigOAID)
			if tok.AccessToken != at || tok.RefreshToken != newRT || tok.ExpiresIn != 90000*time.Second {
				t.Errorf("token = %+v, want the server's current pair with 25h", tok)
			}
			if tok.AccessToken == f.at || tok.RefreshToken == f.rt {
				t.Errorf("refresh returned an old token")
			}
			oa, err := f.c.GetOA(ctx, tok.AccessToken)
			if err != nil || oa.ID != bigOAID {
				t.Errorf("GetOA(new token) = %+v, %v", oa, err)
			}
			// Single use: the spent refresh token and the access token
			// minted with it are both dead now.
			_, err = f.c.RefreshToken(ctx, appID, appSecret, f.rt)
			wantError(t, err, platform.Auth, zalotest.CodeInvalidRefreshToken, f.secrets())
			_, err = f.c.GetOA(ctx, f.at)
			wantError(t, err, platform.Auth, zalo.CodeAccessTokenInvalid, f.secrets())
		})
	}
}

// A failed grant must not spend the refresh token, or a wrong secret in
// config would cost every OA its connection.
func TestRefreshTokenFailureKeepsToken(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	if _, err := f.c.RefreshToken(ctx, appID, "WrongSecretKey123", f.rt); !platform.IsAuth(err) {
		t.Fatalf("wrong secret: err = %v, want Auth", err)
	}
	if _, err := f.c.RefreshToken(ctx, appID, appSecret, f.rt); err != nil {
		t.Fatalf("refresh after a failed attempt: %v", err)
	}
}

func TestConcurrentRefreshBurnsToken(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	f.srv.SetRefreshDelay(100 * time.Millisecond)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = f.c.RefreshToken(ctx, appID, appSecret, f.rt)
		})
	}
	wg.Wait()
	ok, auth := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case platform.IsAuth(err):
			auth++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || auth != 1 {
		t.Errorf("successes = %d, auth failures = %d; want 1 and 1", ok, auth)
	}
	if f.srv.Refreshes() != 1 || f.srv.RefreshAttempts() != 2 {
		t.Errorf("Refreshes() = %d, RefreshAttempts() = %d; want 1 and 2", f.srv.Refreshes(), f.srv.RefreshAttempts())
	}
}

func TestGetOA(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		prepare  func(f *fixture) // may inject a response or kill the token
		want     *zalo.OA
		wantKind platform.Kind
		wantCode int
		status   int // wanted Status on error
	}{
		{name: "large numeric oa_id kept exactly", want: &testOA},
		{name: "oa_id as a string",
			prepare: func(f *fixture) {
				f.srv.FailNext(zalotest.PathGetOA, http.StatusOK, `{"error":0,"message":"Success","data":{"oa_id":"`+bigOAID+`","name":"N"}}`)
			},
			want: &zalo.OA{ID: bigOAID, Name: "N"}},
		{name: "expired access token",
			prepare:  func(f *fixture) { f.srv.ExpireAccessToken(f.at) },
			wantKind: platform.Auth, wantCode: -216, status: http.StatusOK},
		{name: "ZNS invalid token code",
			prepare: func(f *fixture) {
				f.srv.FailNext(zalotest.PathGetOA, http.StatusOK, `{"error":-124,"message":"Access token invalid"}`)
			},
			wantKind: platform.Auth, wantCode: -124, status: http.StatusOK},
		{name: "other envelope error",
			prepare: func(f *fixture) {
				f.srv.FailNext(zalotest.PathGetOA, http.StatusOK, `{"error":-32,"message":"Not allowed"}`)
			},
			wantKind: platform.Permanent, wantCode: -32, status: http.StatusOK},
		{name: "message echoing the token",
			prepare: func(f *fixture) {
				f.srv.FailNext(zalotest.PathGetOA, http.StatusOK, `{"error":-216,"message":"Access token `+f.at+` has expired"}`)
			},
			wantKind: platform.Auth, wantCode: -216, status: http.StatusOK},
		{name: "server error",
			prepare: func(f *fixture) {
				f.srv.FailNext(zalotest.PathGetOA, http.StatusInternalServerError, "<html>500</html>")
			},
			wantKind: platform.Transient, status: http.StatusInternalServerError},
		{name: "server error with envelope",
			prepare: func(f *fixture) {
				f.srv.FailNext(zalotest.PathGetOA, http.StatusBadGateway, `{"error":-1,"message":"upstream"}`)
			},
			wantKind: platform.Transient, wantCode: -1, status: http.StatusBadGateway},
		{name: "rate limited",
			prepare: func(f *fixture) {
				f.srv.FailNext(zalotest.PathGetOA, http.StatusTooManyRequests, "")
			},
			wantKind: platform.RateLimited, status: http.StatusTooManyRequests},
		{name: "unreadable 200",
			prepare: func(f *fixture) {
				f.srv.FailNext(zalotest.PathGetOA, http.StatusOK, "<html>captive portal</html>")
			},
			wantKind: platform.Transient, status: http.StatusOK},
		{name: "success without oa_id",
			prepare: func(f *fixture) {
				f.srv.FailNext(zalotest.PathGetOA, http.StatusOK, `{"error":0,"message":"Success","data":{}}`)
			},
			wantKind: platform.Permanent, status: http.StatusOK},
		{name: "closed server",
			prepare:  func(f *fixture) { f.srv.Close() },
			wantKind: platform.Transient, status: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			if tt.prepare != nil {
				tt.prepare(f)
			}
			oa, err := f.c.GetOA(ctx, f.at)
			if tt.want == nil {
				pe := wantError(t, err, tt.wantKind, tt.wantCode, f.secrets())
				if pe.Status != tt.status {
					t.Errorf("Status = %d, want %d", pe.Status, tt.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetOA: %v", err)
			}
			if *oa != *tt.want {
				t.Errorf("GetOA = %+v, want %+v", *oa, *tt.want)
			}
		})
	}
}

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantData any // nil: data is not checked
		wantErr  bool
		wantKind platform.Kind
	}{
		{name: "numbers stay json.Number", status: 200,
			body:     `{"error":0,"message":"Success","data":{"message_id":"abc","user_id":4318291638716923456}}`,
			wantData: map[string]any{"message_id": "abc", "user_id": json.Number("4318291638716923456")}},
		{name: "null data", status: 200, body: `{"error":0,"message":"Success","data":null}`,
			wantData: map[string]any{}},
		{name: "error as a string", status: 200, body: `{"error":"-216","message":"Access token has expired"}`,
			wantErr: true, wantKind: platform.Auth},
		{name: "unknown API", status: 404, body: `{"error":404,"message":"You are accessing an empty or invalid API"}`,
			wantErr: true, wantKind: platform.Permanent},
		{name: "401 without envelope error", status: 401, body: `{}`,
			wantErr: true, wantKind: platform.Auth},
		{name: "unreadable error code", status: 200, body: `{"error":true}`,
			wantErr: true, wantKind: platform.Transient},
		{name: "data of the wrong shape", status: 200, body: `{"error":0,"data":[1,2]}`,
			wantErr: true, wantKind: platform.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := map[string]any{}
			err := zalo.ParseEnvelope("POST /v3.0/oa/message/cs", tt.status, []byte(tt.body), &data)
			if tt.wantErr {
				pe := wantError(t, err, tt.wantKind, 0, nil)
				if pe.Op != "POST /v3.0/oa/message/cs" || pe.Status != tt.status {
					t.Errorf("Op, Status = %q, %d", pe.Op, pe.Status)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEnvelope: %v", err)
			}
			got, _ := json.Marshal(data)
			want, _ := json.Marshal(tt.wantData)
			if string(got) != string(want) {
				t.Errorf("data = %s, want %s", got, want)
			}
			if n, ok := data["user_id"]; ok && n != json.Number("4318291638716923456") {
				t.Errorf("user_id = %#v, want the exact json.Number", n)
			}
		})
	}
	if err := zalo.ParseEnvelope("op", 200, []byte(`{"error":0,"data":{"a":1}}`), nil); err != nil {
		t.Errorf("nil data: %v", err)
	}
}

func TestNewDefaultsHTTPClient(t *testing.T) {
	srv := zalotest.NewServer(t, appID, appSecret)
	at, _ := srv.AddOA(testOA, "", "")
	oa, err := zalo.New(srv.URL, srv.URL, nil).GetOA(context.Background(), at)
	if err != nil || oa.ID != bigOAID {
		t.Fatalf("GetOA = %+v, %v", oa, err)
	}
}
