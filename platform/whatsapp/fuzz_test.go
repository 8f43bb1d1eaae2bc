package whatsapp_test

import (
	"testing"

	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/platformtest"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
)

func wire(tb testing.TB) platformtest.Wire {
	return platformtest.Wire{
		Channel:  whatsapp.NewChannel(nil, fixtureSecret, "verify"),
		Key:      fixtureSecret,
		Header:   graphapi.SignatureHeader,
		Sign:     func(body []byte) string { return graphapi.Sign(fixtureSecret, body) },
		Fixtures: platformtest.Fixtures(tb, "testdata"),
	}
}

func FuzzVerify(f *testing.F)  { platformtest.FuzzVerify(f, wire(f)) }
func FuzzWebhook(f *testing.F) { platformtest.FuzzWebhook(f, wire(f)) }

func BenchmarkWebhook(b *testing.B) {
	platformtest.Bench(b, wire(b), fixture(b, "text.json"))
}
