package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-chat/switchboard/graphiql"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
)

// chromium finds a Chromium to drive, or skips the test saying how to get one.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH: `apt-get install chromium` (make test installs it with apt-get when it can)")
	return ""
}

// browser opens a headless Chromium for the test.
func browser(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("headless", "new"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first call starts the browser, and must not carry a timeout: it
	// would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Skipf("Chromium does not start here: %v", err)
	}
	return ctx
}

// step runs browser actions with a deadline.
func step(ctx context.Context, t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a script in the page.
func eval[T any](ctx context.Context, t *testing.T, script string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script))
	if err != nil {
		t.Fatalf("evaluating %s: %v", script, err)
	}
	return v
}

// editors reads every CodeMirror editor of the page (query, variables,
// headers, result), which GraphiQL 3 is built on.
const editors = `Array.from(document.querySelectorAll('.CodeMirror')).map(e => e.CodeMirror.getValue())`

const resultJS = `(() => { const r = document.querySelector('.result-window .CodeMirror'); return r ? r.CodeMirror.getValue() : ''; })()`

// waitFor polls the page's result pane until it contains want.
func waitFor(ctx context.Context, t *testing.T, what, want string, between func()) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		got = eval[string](ctx, t, resultJS)
		if strings.Contains(got, want) {
			return got
		}
		if between != nil {
			between()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: the result pane never showed %q; it shows %q", what, want, got)
	return ""
}

// GraphiQL at / is served from the binary (no CDN), starts with the
// Authorization header to fill in, runs a query with a token, and shows a
// messageAdded subscription's message as a signed webhook delivers it.
func TestGraphiQLInABrowser(t *testing.T) {
	if !graphiql.Built() {
		t.Skip("GraphiQL's files are not built: scripts/graphiql.sh (make test runs it; it needs npm)")
	}
	ctx := browser(t)
	tg := telegramtest.NewServer(t)
	e := newE2E(t, tg)
	e.env["LOG_LEVEL"] = "error"
	e.startInProcess()
	token, connID, secret := e.connectBot(tg, botID())
	campaignID := e.campaignOf(token, connID)
	base := "http://" + e.addr + "/"

	// Nothing may come from elsewhere: the page works on a machine with no internet.
	var (
		mu            sync.Mutex
		fromElsewhere []string
	)
	if err := chromedp.Listen(ctx, func(ev any) {
		if req, ok := ev.(*network.EventRequestWillBeSent); ok {
			if u := req.Request.URL; !strings.HasPrefix(u, "http://"+e.addr) && !strings.HasPrefix(u, "ws://"+e.addr) && !strings.HasPrefix(u, "data:") {
				mu.Lock()
				fromElsewhere = append(fromElsewhere, u)
				mu.Unlock()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	step(ctx, t, "loading GraphiQL", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)))
	texts := eval[[]string](ctx, t, editors)
	if !strings.Contains(strings.Join(texts, "\n"), `"Authorization": "Bearer "`) {
		t.Fatalf("no editor holds the Authorization header to fill in: %q", texts)
	}

	open := func(query string) {
		t.Helper()
		headers, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + token})
		q := url.Values{"query": {query}, "headers": {string(headers)}}
		step(ctx, t, "running "+query, chromedp.Navigate(base+"?"+q.Encode()),
			chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)), chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)))
	}

	open(`{ me { email } }`)
	waitFor(ctx, t, "the query", `"email": "first@example.com"`, nil)

	open(fmt.Sprintf(`subscription { messageAdded(campaignID: %q) { text } }`, campaignID))
	// The socket subscribes after the click; until it has, a message would
	// pass unseen, so each round posts a new one until one shows.
	n := 0
	got := waitFor(ctx, t, "the subscription", "from the browser test", func() {
		n++
		if st := e.post("/webhooks/telegram/"+connID, map[string]string{telegram.SecretHeader: secret}, tgUpdate(900+n, "from the browser test")); st != 200 {
			t.Fatalf("webhook status %d", st)
		}
	})
	t.Logf("after %d webhooks the subscription shows %s", n, got)
	mu.Lock()
	defer mu.Unlock()
	if len(fromElsewhere) > 0 {
		t.Fatalf("the page loaded from elsewhere: %v", fromElsewhere)
	}
}
