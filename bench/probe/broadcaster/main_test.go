package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const secret = "probe-secret"

func start(t *testing.T, queue int) (*broadcaster, *httptest.Server) {
	t.Helper()
	b := newBroadcaster(secret, map[string]string{"con_a": "cmp_a", "con_b": "cmp_b"}, queue)
	srv := httptest.NewServer(b.handler())
	t.Cleanup(func() { b.closeAll(); srv.Close() })
	return b, srv
}

type client struct {
	t    *testing.T
	conn *websocket.Conn
}

// dial opens a socket as a graphql-transport-ws client does and waits for
// the acknowledgement.
func dial(t *testing.T, srv *httptest.Server) *client {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{subprotocol}}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn}
	c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer whatever"}})
	if m := c.read(time.Second); m["type"] != "connection_ack" {
		t.Fatalf("got %v, want connection_ack", m)
	}
	return c
}

func (c *client) send(m map[string]any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) subscribe(id, campaign string) {
	c.t.Helper()
	c.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{
		"query":     `subscription($campaignID: ID) { messageAdded(campaignID: $campaignID) { id text direction sentAt } }`,
		"variables": map[string]any{"campaignID": campaign}}})
}

// read returns the next message, or nil when none comes within wait.
func (c *client) read(wait time.Duration) map[string]any {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
			return nil
		}
		c.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("%s: %v", data, err)
	}
	return m
}

// sync makes sure the server has handled everything sent before: it
// answers a ping only after reading what came before it.
func (c *client) sync() {
	c.t.Helper()
	c.send(map[string]any{"type": "ping"})
	if m := c.read(time.Second); m["type"] != "pong" {
		c.t.Fatalf("got %v, want pong", m)
	}
}

func post(t *testing.T, srv *httptest.Server, conn, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/telegram/"+conn, strings.NewReader(body))
	req.Header.Set(secretHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const hello = `{"update_id":1,"message":{"message_id":5,"date":1700000000,"chat":{"id":42,"type":"private"},"text":"hello <there> & \"you\""}}`

func TestSubscriberReceivesItsCampaignOnly(t *testing.T) {
	_, srv := start(t, 16)
	a1, a2, other := dial(t, srv), dial(t, srv), dial(t, srv)
	a1.subscribe("1", "cmp_a")
	a2.subscribe("sub-\"x\"", "cmp_a") // an id that needs escaping
	other.subscribe("1", "cmp_b")
	for _, c := range []*client{a1, a2, other} {
		c.sync()
	}
	if s := post(t, srv, "con_a", secret, hello); s != http.StatusOK {
		t.Fatalf("status %d, want 200", s)
	}
	for _, tc := range []struct {
		c  *client
		id string
	}{{a1, "1"}, {a2, "sub-\"x\""}} {
		m := tc.c.read(2 * time.Second)
		if m == nil {
			t.Fatalf("subscriber %q received nothing", tc.id)
		}
		if m["type"] != "next" || m["id"] != tc.id {
			t.Fatalf("got %v, want next for %q", m, tc.id)
		}
		added, _ := m["payload"].(map[string]any)["data"].(map[string]any)["messageAdded"].(map[string]any)
		if added["text"] != `hello <there> & "you"` || added["direction"] != "INBOUND" || added["sentAt"] != "2023-11-14T22:13:20Z" ||
			!strings.HasPrefix(added["id"].(string), "msg_") {
			t.Fatalf("messageAdded %v", added)
		}
	}
	if m := other.read(300 * time.Millisecond); m != nil {
		t.Fatalf("a subscriber of another campaign received %v", m)
	}
}

func TestComplete(t *testing.T) {
	b, srv := start(t, 16)
	c := dial(t, srv)
	c.subscribe("1", "cmp_a")
	c.send(map[string]any{"id": "1", "type": "complete"})
	c.sync()
	b.mu.RLock()
	n := len(b.byCamp["cmp_a"])
	b.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d subscriptions left after complete", n)
	}
	post(t, srv, "con_a", secret, hello)
	if m := c.read(300 * time.Millisecond); m != nil {
		t.Fatalf("received %v after complete", m)
	}
}

func TestClosedSocketIsUnregistered(t *testing.T) {
	b, srv := start(t, 16)
	c := dial(t, srv)
	c.subscribe("1", "cmp_a")
	c.sync()
	c.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.RLock()
		n := len(b.byCamp["cmp_a"]) + len(b.sockets)
		b.mu.RUnlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closed socket still registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWebhookRefusals(t *testing.T) {
	_, srv := start(t, 16)
	for _, tc := range []struct {
		name, conn, token, body string
		want                    int
	}{
		{"wrong secret", "con_a", "nope", hello, http.StatusUnauthorized},
		{"unknown connection", "con_x", secret, hello, http.StatusNotFound},
		{"no update_id", "con_a", secret, `{"message":{"text":"x"}}`, http.StatusBadRequest},
		{"over 1 MiB", "con_a", secret, `{"update_id":1,"pad":"` + strings.Repeat("x", maxBody) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := post(t, srv, tc.conn, tc.token, tc.body); s != tc.want {
				t.Fatalf("status %d, want %d", s, tc.want)
			}
		})
	}
}

// The protocol's rules the probe keeps: no subscription before the
// acknowledgement (4401), no two subscriptions with one id (4409).
func TestProtocolErrors(t *testing.T) {
	_, srv := start(t, 16)
	d := websocket.Dialer{Subprotocols: []string{subprotocol}}
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	closeCode := func(conn *websocket.Conn) int {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return ce.Code
				}
				return -1
			}
		}
	}
	conn, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"variables": map[string]any{"campaignID": "cmp_a"}}})
	if code := closeCode(conn); code != 4401 {
		t.Fatalf("subscribe before ack: close %d, want 4401", code)
	}
	c := dial(t, srv)
	c.subscribe("1", "cmp_a")
	c.subscribe("1", "cmp_a")
	if code := closeCode(c.conn); code != 4409 {
		t.Fatalf("duplicate id: close %d, want 4409", code)
	}
}

// A socket that does not read is dropped once its queue is full; the
// others keep receiving.
func TestSlowSocketIsDropped(t *testing.T) {
	b, srv := start(t, 4)
	slow, fast := dial(t, srv), dial(t, srv)
	slow.subscribe("1", "cmp_a")
	fast.subscribe("1", "cmp_a")
	slow.sync()
	fast.sync()
	// The slow socket's writer blocks once the kernel's buffers are full
	// (some MB on loopback), then its queue fills.
	big := `{"update_id":2,"message":{"date":1700000000,"text":"` + strings.Repeat("y", 256<<10) + `"}}`
	for i := 0; ; i++ {
		if i == 400 {
			t.Fatal("the slow socket was never dropped")
		}
		post(t, srv, "con_a", secret, big)
		if m := fast.read(5 * time.Second); m == nil || m["type"] != "next" {
			t.Fatalf("fast subscriber got %v", m)
		}
		b.mu.RLock()
		n := len(b.byCamp["cmp_a"])
		b.mu.RUnlock()
		if n == 1 {
			break
		}
	}
}
