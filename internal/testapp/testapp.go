// Package testapp runs the whole application for a test: app.New, the
// production wiring, over the package's test database, on an httptest
// server, with the platforms' APIs faked in their own wire formats.
package testapp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchboard-chat/switchboard/app"
	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
	"github.com/switchboard-chat/switchboard/platform/zalo/zalotest"
)

// Options shape a Stack.
type Options struct {
	// Env is configuration on top of the test defaults (the platforms'
	// URLs point at the fakes; INGEST_WORKERS is 0 unless set here).
	Env map[string]string
	// App are the wiring's test options (WebhookClient is set by Start).
	App app.Options
	// TLS serves https, as platforms require of webhook URLs; PUBLIC_URL then
	// names https://example.com, which the test server's certificate covers
	// and the WebhookClient dials.
	TLS bool
	// Logs receives the application's logs (nil: discarded).
	Logs io.Writer
	// Key is the ENCRYPTION_KEY (nil: a random one). Stacks that stand for
	// replicas of one deployment over the package's database share it.
	Key []byte
}

// Stack is the whole application on an httptest server.
type Stack struct {
	*app.App
	T    testing.TB
	URL  string       // the server's base URL
	HC   *http.Client // a client of the server
	Key  []byte       // ENCRYPTION_KEY
	TG   *telegramtest.Server
	Meta *graphtest.Server
	Zalo *zalotest.Server
}

// Start runs the application over the package's database until the test
// ends. Fakes of the platforms' APIs are started with the app ids and
// secrets of the configuration.
func Start(t testing.TB, opt Options) *Stack {
	t.Helper()
	s := &Stack{T: t, Key: opt.Key}
	if s.Key == nil {
		s.Key = make([]byte, 32)
		_, _ = rand.Read(s.Key)
	}
	var handler atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	public := "https://switchboard.example.com"
	if opt.TLS {
		srv.StartTLS()
		public = "https://example.com"
		webhook := srv.Client()
		tr := webhook.Transport.(*http.Transport)
		tr.MaxIdleConnsPerHost = 256
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		}
		opt.App.WebhookClient = webhook
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	s.URL, s.HC = srv.URL, srv.Client()
	s.HC.Transport.(*http.Transport).MaxIdleConnsPerHost = 256

	env := map[string]string{
		"DATABASE_URL":   dbtest.URL(t),
		"JWT_SECRET":     "test-secret-test-secret-test-secret-0123",
		"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(s.Key),
		"PUBLIC_URL":     public,
		"INGEST_WORKERS": "0",
		"LOG_LEVEL":      "debug",
	}
	maps.Copy(env, opt.Env)
	s.TG = telegramtest.NewServer(t)
	s.Meta = graphtest.NewServer(t, env["FACEBOOK_APP_ID"], env["FACEBOOK_APP_SECRET"])
	s.Zalo = zalotest.NewServer(t, env["ZALO_APP_ID"], env["ZALO_APP_SECRET"])
	env["TELEGRAM_API_URL"] = s.TG.URL
	env["FACEBOOK_GRAPH_URL"] = s.Meta.URL
	env["ZALO_OPENAPI_URL"], env["ZALO_OAUTH_URL"] = s.Zalo.URL, s.Zalo.URL
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, dbtest.Open(t), testkit.Logger(opt.Logs), opt.App)
	if err != nil {
		t.Fatal(err)
	}
	s.App = a
	handler.Store(a.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return s
}
