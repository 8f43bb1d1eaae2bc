package graphapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

const (
	hookSecret = "webhook-secret-Yp3q"
	hookBody   = `{"object":"page","entry":[]}`
	// hookSig is hookBody signed with hookSecret by openssl, not by Sign, so
	// the test does not only check Sign against itself:
	//   printf '%s' '{"object":"page","entry":[]}' | openssl dgst -sha256 -hmac 'webhook-secret-Yp3q'
	hookSig = "sha256=3f5c2dde304ced5ace00d490d718ebe60fb40f1dd27425576b72dd163f22e857"
)

func TestSign(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, secret, body, want string
	}{
		{"envelope", hookSecret, hookBody, hookSig},
		// Meta signs its escaped-Unicode bytes; the escape must be hashed as sent.
		{"escaped unicode kept as sent", hookSecret, `{"text":"Xin ch\u00e0o"}`, "sha256=d0b046d7ff848d099a5df3182b504d208c7b74676ac69202c63416a347c75ab7"},
		{"empty body", hookSecret, "", "sha256=7de35885fdf77ea391e13465aa086b89a2b7644e108c2e2e2331fb72bb8c3543"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := graphapi.Sign(tt.secret, []byte(tt.body)); got != tt.want {
				t.Errorf("Sign = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	sha1Only := "sha1=" + strings.Repeat("ab", 20)
	tests := []struct {
		name, secret, body, header string
		want                       bool
	}{
		{"valid", hookSecret, hookBody, hookSig, true},
		{"valid upper-case hex", hookSecret, hookBody, "sha256=" + strings.ToUpper(strings.TrimPrefix(hookSig, "sha256=")), true},
		{"round trip with Sign", "another", `{"x":1}`, graphapi.Sign("another", []byte(`{"x":1}`)), true},
		{"wrong secret", "not-the-secret", hookBody, hookSig, false},
		{"tampered body", hookSecret, `{"object":"page","entry":[{}]}`, hookSig, false},
		{"body re-serialised with whitespace", hookSecret, `{"object": "page", "entry": []}`, hookSig, false},
		{"empty secret", "", hookBody, graphapi.Sign("", []byte(hookBody)), false},
		{"missing header", hookSecret, hookBody, "", false},
		{"no prefix", hookSecret, hookBody, strings.TrimPrefix(hookSig, "sha256="), false},
		{"upper-case prefix", hookSecret, hookBody, "SHA256=" + strings.TrimPrefix(hookSig, "sha256="), false},
		{"prefix only", hookSecret, hookBody, "sha256=", false},
		{"not hex", hookSecret, hookBody, "sha256=" + strings.Repeat("zz", 32), false},
		{"odd length", hookSecret, hookBody, hookSig[:len(hookSig)-1], false},
		{"truncated digest", hookSecret, hookBody, hookSig[:len(hookSig)-2], false},
		{"digest with extra bytes", hookSecret, hookBody, hookSig + "00", false},
		{"surrounding space", hookSecret, hookBody, " " + hookSig, false},
		{"sha1 header only", hookSecret, hookBody, sha1Only, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.header != "" {
				h.Set(graphapi.SignatureHeader, tt.header)
			}
			if got := graphapi.Verify(h, []byte(tt.body), tt.secret) == nil; got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	const token = "meatyhamhock"
	tests := []struct {
		name          string
		query         string
		verifyToken   string
		wantChallenge string
		wantOK        bool
	}{
		{"ok", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", token, "1158201444", true},
		{"ok with escaped token", "hub.mode=subscribe&hub.challenge=42&hub.verify_token=a%2Bb%20c", "a+b c", "42", true},
		{"wrong token", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyham", token, "", false},
		{"token prefix of configured", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=meaty", token, "", false},
		{"missing token", "hub.mode=subscribe&hub.challenge=1158201444", token, "", false},
		{"wrong mode", "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", token, "", false},
		{"missing mode", "hub.challenge=1158201444&hub.verify_token=meatyhamhock", token, "", false},
		{"empty configured token", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=", "", "", false},
		{"empty configured token, no token sent", "hub.mode=subscribe&hub.challenge=1158201444", "", "", false},
		{"missing challenge", "hub.mode=subscribe&hub.verify_token=meatyhamhock", token, "", false},
		// PHP's renaming (hub_mode) is not something Meta sends to us.
		{"underscored names", "hub_mode=subscribe&hub_challenge=1&hub_verify_token=meatyhamhock", token, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			challenge, ok := graphapi.Handshake(q, tt.verifyToken)
			if challenge != tt.wantChallenge || ok != tt.wantOK {
				t.Errorf("Handshake = %q, %v; want %q, %v", challenge, ok, tt.wantChallenge, tt.wantOK)
			}
		})
	}
}
