package facebook_test

import (
	"testing"

	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/platformtest"
)

func wire(tb testing.TB) platformtest.Wire {
	api := facebook.New(graphapi.New("http://graph.invalid", "v21.0", nil), "fuzz-app", fixtureSecret)
	return platformtest.Wire{
		Channel:  facebook.NewChannel(api, "verify"),
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
