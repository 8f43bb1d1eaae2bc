package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
)

// e2e drives a whole server over HTTP, as an SPA and a platform would.
type e2e struct {
	t    *testing.T
	addr string
	env  map[string]string
}

func newE2E(t *testing.T, tg *telegramtest.Server) *e2e {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &e2e{t: t, addr: addr, env: map[string]string{
		"DATABASE_URL":             dbtest.URL(t),
		"JWT_SECRET":               strings.Repeat("j", 40),
		"ENCRYPTION_KEY":           base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"ADDR":                     addr,
		"PUBLIC_URL":               "https://switchboard.example.com",
		"TELEGRAM_API_URL":         tg.URL,
		"BOOTSTRAP_ADMIN_EMAIL":    "first@example.com",
		"BOOTSTRAP_ADMIN_PASSWORD": "first password",
		"LOG_LEVEL":                "error",
	}}
}

// startInProcess runs the server in this process until the test ends.
func (e *e2e) startInProcess() {
	for k, v := range e.env {
		e.t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, io.Discard, nil) }()
	e.t.Cleanup(func() {
		cancel() // as SIGTERM does
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("graceful shutdown returned %v", err)
			}
		case <-time.After(20 * time.Second):
			e.t.Error("server did not shut down")
		}
	})
	e.waitReady()
}

// startChild runs the server as a separate process (this test binary).
func (e *e2e) startChild(extra map[string]string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_TEST_CHILD=1")
	for k, v := range e.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	e.waitReady()
	return cmd
}

func (e *e2e) waitReady() {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + e.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatal("server did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *e2e) gql(token, query string, vars map[string]any) map[string]any {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any
		Errors []any
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
		e.t.Fatalf("%s: %v %v", query, err, out.Errors)
	}
	return out.Data
}

func (e *e2e) post(path string, header map[string]string, body []byte) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// connectBot logs in, creates a campaign and connects a bot; it returns the
// admin token, the connection id and the webhook secret Telegram was given.
func (e *e2e) connectBot(tg *telegramtest.Server, botID int64) (token, connID, secret string) {
	botToken := fmt.Sprintf("%d:AAE-e2eTestSecret_0123456789abcdef", botID)
	tg.AddBot(botToken, telegram.User{ID: botID, IsBot: true, FirstName: "Serve", Username: "serve_bot"})
	token = testkit.Pick(e.gql("", `mutation { login(email: "first@example.com", password: "first password") { token } }`, nil), "login", "token").(string)
	cid := testkit.Pick(e.gql(token, `mutation { createCampaign(input: {name: "E2E"}) { id } }`, nil), "createCampaign", "id").(string)
	conn := testkit.Pick(e.gql(token, `mutation($c: ID!, $t: String!) { connectTelegram(input: {campaignID: $c, botToken: $t}) { id status webhook { url } } }`,
		map[string]any{"c": cid, "t": botToken}), "connectTelegram").(map[string]any)
	connID = conn["id"].(string)
	if conn["status"] != "ACTIVE" || !strings.HasSuffix(testkit.Pick(conn, "webhook", "url").(string), "/webhooks/telegram/"+connID) {
		e.t.Fatalf("connectTelegram = %v", conn)
	}
	calls := tg.Calls("setWebhook")
	last := calls[len(calls)-1]
	if last["url"] != "https://switchboard.example.com/webhooks/telegram/"+connID || last["secret_token"] == nil || last["secret_token"] == "" {
		e.t.Fatalf("setWebhook = %v", last)
	}
	return token, connID, last["secret_token"].(string)
}

func tgUpdate(id int, text string) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":424242,"type":"private","first_name":"Mai"},"from":{"id":424242,"is_bot":false,"first_name":"Mai"},"text":%q}}`,
		id, id, 1700000000+id, text)
}

// messageTexts lists the texts of the conversations' messages, as an SPA sees them.
func (e *e2e) messageTexts(token, connID string) []string {
	d := e.gql(token, `query($c: ID!) { conversations(first: 10, where: {connectionID: $c}) { edges { node { contact { name } messages(last: 20) { edges { node { text } } } } } } }`,
		map[string]any{"c": connID})
	var out []string
	for _, c := range testkit.Pick(d, "conversations", "edges").([]any) {
		for _, m := range testkit.Pick(c, "node", "messages", "edges").([]any) {
			out = append(out, testkit.Pick(m, "node", "text").(string))
		}
	}
	return out
}

// A running server: connectTelegram against a fake, then a signed update to
// the webhook URL shows up in conversations, and the same update again adds
// nothing.
func TestServeConnectsTelegramAndIngests(t *testing.T) {
	tg := telegramtest.NewServer(t)
	e := newE2E(t, tg)
	e.startInProcess()
	token, connID, secret := e.connectBot(tg, botID())
	path := "/webhooks/telegram/" + connID
	if st := e.post(path, map[string]string{telegram.SecretHeader: secret}, tgUpdate(1, "Xin chào, shop còn áo không?")); st != 200 {
		t.Fatalf("webhook status %d", st)
	}
	testkit.Eventually(t, "the message is in conversations", func() bool {
		got := e.messageTexts(token, connID)
		return len(got) == 1 && got[0] == "Xin chào, shop còn áo không?"
	})
	if st := e.post(path, map[string]string{telegram.SecretHeader: secret}, tgUpdate(1, "Xin chào, shop còn áo không?")); st != 200 {
		t.Fatalf("redelivery status %d", st)
	}
	testkit.Eventually(t, "the journal is processed", func() bool {
		d := e.gql(token, `query($c: ID!) { webhookEvents(connectionID: $c, where: {processedAtIsNil: true, failedAtIsNil: true}) { totalCount } }`,
			map[string]any{"c": connID})
		return testkit.Pick(d, "webhookEvents", "totalCount") == 0.0
	})
	if got := e.messageTexts(token, connID); len(got) != 1 {
		t.Fatalf("a redelivery added messages: %v", got)
	}
	if st := e.post(path, map[string]string{telegram.SecretHeader: "forged"}, tgUpdate(2, "forged")); st != 401 {
		t.Fatalf("forged secret: %d", st)
	}
}

// kill -9 after journaling: nothing acknowledged is lost. The first server
// only journals (INGEST_WORKERS=0) and is killed; the next one processes the
// backlog.
func TestKill9AfterJournalingLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	tg := telegramtest.NewServer(t)
	e := newE2E(t, tg)
	first := e.startChild(map[string]string{"INGEST_WORKERS": "0"})
	token, connID, secret := e.connectBot(tg, botID())
	for i, text := range []string{"một", "hai", "ba"} {
		if st := e.post("/webhooks/telegram/"+connID, map[string]string{telegram.SecretHeader: secret}, tgUpdate(10+i, text)); st != 200 {
			t.Fatalf("webhook %d: %d", i, st)
		}
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL: no shutdown code runs
		t.Fatal(err)
	}
	_ = first.Wait()
	db := dbtest.Open(t)
	var unprocessed int
	if err := db.QueryRow(`SELECT count(*) FROM webhook_events WHERE connection_id = $1 AND processed_at IS NULL`, connID).Scan(&unprocessed); err != nil || unprocessed != 3 {
		t.Fatalf("journal after kill -9: %d unprocessed (%v), want 3", unprocessed, err)
	}
	e.startChild(nil)
	testkit.Eventually(t, "the backlog is processed", func() bool {
		got := e.messageTexts(token, connID)
		return strings.Join(got, ",") == "một,hai,ba"
	})
}

// websocket opens a graphql-transport-ws socket as the token's user.
func (e *e2e) websocket(token string) *testkit.Socket {
	e.t.Helper()
	return testkit.Open(e.t, "ws://"+e.addr+"/graphql", token)
}

// campaignOf returns the campaign of a connection, through the API.
func (e *e2e) campaignOf(token, connID string) string {
	return testkit.Pick(e.gql(token, `query($id: ID!) { node(id: $id) { ... on Connection { campaign { id } } } }`, map[string]any{"id": connID}), "node", "campaign", "id").(string)
}

// Two replicas on one database: a webhook received by A reaches a
// subscriber connected to B, through the log and LISTEN/NOTIFY.
func TestSubscriptionAcrossReplicas(t *testing.T) {
	tg := telegramtest.NewServer(t)
	a := newE2E(t, tg)
	a.startInProcess()
	b := newE2E(t, tg)
	b.env = maps.Clone(a.env)
	b.env["ADDR"] = b.addr
	b.startInProcess()

	token, connID, secret := a.connectBot(tg, botID())
	campaign := a.campaignOf(token, connID)
	sub := b.websocket(token)
	sub.Subscribe("1", `subscription($c: ID) { messageAdded(campaignID: $c) { text direction conversation { id contact { name } } } }`, map[string]any{"c": campaign})
	m := sub.UntilLive(func(attempt int) {
		if st := a.post("/webhooks/telegram/"+connID, map[string]string{telegram.SecretHeader: secret}, tgUpdate(51+attempt, "Chào replica B")); st != 200 {
			t.Fatalf("webhook %d", st)
		}
	})
	if m["type"] != "next" || testkit.Pick(m, "payload", "data", "messageAdded", "text") != "Chào replica B" ||
		testkit.Pick(m, "payload", "data", "messageAdded", "conversation", "contact", "name") != "Mai" {
		t.Fatalf("replica B's subscriber got %v", m)
	}
}

// campaignEvents resumes after a disconnect with exactly what was missed;
// subscriptions to another campaign are refused.
func TestCampaignEventsResume(t *testing.T) {
	tg := telegramtest.NewServer(t)
	e := newE2E(t, tg)
	e.startInProcess()
	token, connID, secret := e.connectBot(tg, botID())
	campaign := e.campaignOf(token, connID)
	const q = `subscription($c: ID!, $after: String) { campaignEvents(campaignID: $c, after: $after) { cursor type message { text } conversation { unreadCount } connection { id } } }`
	post := func(i int, text string) {
		if st := e.post("/webhooks/telegram/"+connID, map[string]string{telegram.SecretHeader: secret}, tgUpdate(i, text)); st != 200 {
			t.Fatalf("webhook %d", st)
		}
	}

	first := e.websocket(token)
	first.Subscribe("s", q, map[string]any{"c": campaign})
	first.UntilLive(func(attempt int) { // a rename is an event, and adds no message
		e.gql(token, `mutation($id: ID!, $n: String!) { updateConnection(id: $id, input: {name: $n}) { id } }`,
			map[string]any{"id": connID, "n": fmt.Sprint("bot ", attempt)})
	})
	post(61, "m1")
	var cursor string
	for {
		m := first.Next()
		if testkit.Pick(m, "payload", "data", "campaignEvents", "type") == "CONVERSATION_UPDATED" {
			cursor = testkit.Pick(m, "payload", "data", "campaignEvents", "cursor").(string)
			break
		}
	}
	first.Close() // the socket blinks

	for i, text := range []string{"m2", "m3", "m4"} {
		post(62+i, text)
	}
	testkit.Eventually(t, "the missed messages are stored", func() bool { return len(e.messageTexts(token, connID)) == 4 })

	again := e.websocket(token)
	again.Subscribe("s", q, map[string]any{"c": campaign, "after": cursor})
	var got []string
	seen := map[string]bool{}
	for len(got) < 3 {
		m := again.Next()
		ev := testkit.Pick(m, "payload", "data", "campaignEvents")
		c := testkit.Pick(ev, "cursor").(string)
		if seen[c] || c == cursor {
			t.Fatalf("duplicate event %s", c)
		}
		seen[c] = true
		if testkit.Pick(ev, "type") == "MESSAGE_ADDED" {
			got = append(got, testkit.Pick(ev, "message", "text").(string))
		}
	}
	if strings.Join(got, ",") != "m2,m3,m4" {
		t.Fatalf("replayed messages %v, want m2,m3,m4", got)
	}
	// Then live, once.
	post(70, "live")
	for {
		ev := testkit.Pick(again.Next(), "payload", "data", "campaignEvents")
		if seen[testkit.Pick(ev, "cursor").(string)] {
			t.Fatal("duplicate after the switch to live")
		}
		if testkit.Pick(ev, "type") == "MESSAGE_ADDED" {
			if txt := testkit.Pick(ev, "message", "text"); txt != "live" {
				t.Fatalf("live event %v", txt)
			}
			break
		}
	}

	// Someone who is not in the campaign gets an error for that subscription.
	email := fmt.Sprintf("stranger%d@example.com", time.Now().UnixNano())
	e.gql(token, `mutation($e: String!) { createUser(input: {email: $e, name: "S", password: "long enough"}) { id } }`, map[string]any{"e": email})
	strangerToken := testkit.Pick(e.gql("", `mutation($e: String!) { login(email: $e, password: "long enough") { token } }`, map[string]any{"e": email}), "login", "token").(string)
	s := e.websocket(strangerToken)
	s.Subscribe("x", q, map[string]any{"c": campaign})
	m := s.Next()
	if (m["type"] != "error" && m["type"] != "next") || testkit.Pick(m, "payload", "data", "campaignEvents") != nil ||
		!strings.Contains(fmt.Sprint(m["payload"]), "NOT_FOUND") {
		t.Fatalf("foreign campaign subscription = %v", m)
	}
	// The socket stays open for subscriptions the user may have.
	s.Subscribe("y", `subscription { messageAdded { text } }`, nil)
	s.Send(map[string]any{"id": "y", "type": "complete"})
}

var botSeq atomic.Int64

// botID returns a Telegram bot id no other test (or rerun) uses.
func botID() int64 {
	return 900000000 + time.Now().UnixNano()%90000000 + botSeq.Add(1)
}
