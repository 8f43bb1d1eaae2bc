package telegram_test

import (
	"testing"

	"github.com/switchboard-chat/switchboard/platform/platformtest"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

func wire(tb testing.TB) platformtest.Wire {
	const secret = "fuzz-webhook-secret"
	return platformtest.Wire{
		Channel:  telegram.NewChannel(nil),
		Key:      secret,
		Header:   telegram.SecretHeader,
		Sign:     func([]byte) string { return secret },
		Fixtures: platformtest.Fixtures(tb, "testdata"),
	}
}

func FuzzVerify(f *testing.F)  { platformtest.FuzzVerify(f, wire(f)) }
func FuzzWebhook(f *testing.F) { platformtest.FuzzWebhook(f, wire(f)) }

func BenchmarkWebhook(b *testing.B) {
	platformtest.Bench(b, wire(b), fixture(b, "text.json"))
}
