package zalo_test

import (
	"testing"

	"github.com/switchboard-chat/switchboard/platform/platformtest"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

func wire(tb testing.TB) platformtest.Wire {
	const key = "fuzz-oa-secret-key"
	return platformtest.Wire{
		Channel: zalo.NewChannel(nil, "fuzz-app", "fuzz-app-secret", 0, nil),
		Key:     key,
		Header:  zalo.SignatureHeader,
		Sign: func(body []byte) string {
			env, err := zalo.Peek(body)
			if err != nil {
				return ""
			}
			return zalo.Sign(env.AppID, body, env.Timestamp, key)
		},
		Fixtures: platformtest.Fixtures(tb, "testdata"),
	}
}

func FuzzVerify(f *testing.F)  { platformtest.FuzzVerify(f, wire(f)) }
func FuzzWebhook(f *testing.F) { platformtest.FuzzWebhook(f, wire(f)) }

func BenchmarkWebhook(b *testing.B) {
	platformtest.Bench(b, wire(b), fixtureBody(b, "user_send_text"))
}
