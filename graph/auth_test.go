package graph_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent/user"
)

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokensThatMustNotAuthenticate(t *testing.T) {
	e := newEnv(t)
	u, valid := e.user(user.RoleMEMBER)
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": auth.TokenIssuer, "aud": auth.TokenAudience, "sub": string(u.ID),
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }

	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"sub":"`, `"sub":"x`, 1))) + "." + parts[2]
	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good())

	cases := []struct {
		name  string
		authz string
	}{
		{"missing", ""},
		{"not bearer", "Basic " + valid},
		{"empty bearer", "Bearer "},
		{"garbage", "Bearer not-a-jwt"},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, e.Config.JWTSecret, with("exp", now.Add(-time.Hour).Unix()))},
		{"no exp", "Bearer " + sign(t, jwt.SigningMethodHS256, e.Config.JWTSecret, without("exp"))},
		{"tampered payload", "Bearer " + tampered},
		{"alg none", "Bearer " + noneToken},
		{"wrong secret", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-0000"), good())},
		{"HS512 with the right secret", "Bearer " + sign(t, jwt.SigningMethodHS512, e.Config.JWTSecret, good())},
		{"wrong issuer", "Bearer " + sign(t, jwt.SigningMethodHS256, e.Config.JWTSecret, with("iss", "someone-else"))},
		{"wrong audience", "Bearer " + sign(t, jwt.SigningMethodHS256, e.Config.JWTSecret, with("aud", "another-api"))},
		{"unknown user", "Bearer " + sign(t, jwt.SigningMethodHS256, e.Config.JWTSecret, with("sub", "usr_01HZZZZZZZZZZZZZZZZZZZZZZZ"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, q := range []string{`{ me { id } }`, `{ campaigns { totalCount } }`, `mutation { createCampaign(input: {name: "x"}) { id } }`} {
				r := e.do(tc.authz, q, nil)
				if r.code() != "UNAUTHENTICATED" {
					t.Fatalf("%s: got %+v, want UNAUTHENTICATED", q, r.Errors)
				}
				if len(r.Data) > 0 {
					for k, v := range r.Data {
						if v != nil {
							t.Fatalf("%s: data leaked for %s: %v", q, k, v)
						}
					}
				}
			}
		})
	}

	t.Run("valid token", func(t *testing.T) {
		d := e.as(valid, `{ me { id } }`, nil)
		if got := dig(d, "me.id"); got != string(u.ID) {
			t.Fatalf("me.id = %v, want %s", got, u.ID)
		}
	})
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	u, _ := e.user(user.RoleMEMBER)
	const q = `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token expiresAt user { id email } } }`

	t.Run("right password, email in another case", func(t *testing.T) {
		r := e.do("", q, map[string]any{"e": strings.ToUpper(u.Email), "p": "correct horse battery"})
		if len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
		token := dig(r.Data, "login.token").(string)
		exp, err := time.Parse(time.RFC3339, dig(r.Data, "login.expiresAt").(string))
		if err != nil || exp.Before(time.Now().Add(50*time.Minute)) {
			t.Fatalf("expiresAt = %v (%v), want about an hour from now", exp, err)
		}
		if got := dig(e.as(token, `{ me { email } }`, nil), "me.email"); got != u.Email {
			t.Fatalf("me.email = %v, want %s", got, u.Email)
		}
	})
	for name, vars := range map[string]map[string]any{
		"wrong password": {"e": u.Email, "p": "wrong horse battery"},
		"unknown email":  {"e": "nobody@example.com", "p": "correct horse battery"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("", q, vars)
			if r.code() != "UNAUTHENTICATED" || r.Errors[0].Message != "wrong email or password" {
				t.Fatalf("got %+v, want UNAUTHENTICATED 'wrong email or password'", r.Errors)
			}
		})
	}
}
