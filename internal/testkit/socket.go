package testkit

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Socket is a graphql-transport-ws client. A reader goroutine owns the
// socket's reads (a read deadline would break a gorilla connection for
// good), answers pings, and hands every other message over.
type Socket struct {
	t    testing.TB
	conn *websocket.Conn
	in   chan map[string]any
	err  chan error
}

// Dial opens a socket to url (ws://…/graphql) and sends connection_init
// with the token; it does not wait for the answer (see Ack).
func Dial(t testing.TB, url, token string) *Socket {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(url, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &Socket{t: t, conn: c, in: make(chan map[string]any, 4096), err: make(chan error, 1)}
	go s.read()
	s.Send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	return s
}

// Open dials and fails the test unless the server acknowledges.
func Open(t testing.TB, url, token string) *Socket {
	t.Helper()
	s := Dial(t, url, token)
	if m := s.Next(); m["type"] != "connection_ack" {
		t.Fatalf("connection_init answered %v", m)
	}
	return s
}

func (s *Socket) read() {
	for {
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			s.err <- err
			return
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if m["type"] == "ping" {
			b, _ := json.Marshal(map[string]any{"type": "pong"})
			_ = s.conn.WriteMessage(websocket.TextMessage, b)
			continue
		}
		s.in <- m
	}
}

// Send writes a message.
func (s *Socket) Send(m map[string]any) {
	b, _ := json.Marshal(m)
	if err := s.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		s.t.Fatal(err)
	}
}

// Subscribe starts an operation (any: subscriptions, queries, mutations).
func (s *Socket) Subscribe(id, query string, vars map[string]any) {
	s.Send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
}

// Next returns the next message, failing the test after 15 s.
func (s *Socket) Next() map[string]any {
	s.t.Helper()
	m, ok := s.Within(15 * time.Second)
	if !ok {
		s.t.Fatal("no message on the websocket within 15 s")
	}
	return m
}

// Within returns the next message if one comes within d. A closed socket
// fails the test (see Closed).
func (s *Socket) Within(d time.Duration) (map[string]any, bool) {
	s.t.Helper()
	select {
	case m := <-s.in:
		return m, true
	case err := <-s.err:
		s.t.Fatalf("reading the websocket: %v", err)
	case <-time.After(d):
	}
	return nil, false
}

// Closed waits until the server closes the socket and returns the close
// code (0 when it ended without one), skipping other messages.
func (s *Socket) Closed() int {
	s.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case <-s.in:
		case err := <-s.err:
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			return 0
		case <-timeout:
			s.t.Fatal("the server did not close the socket within 15 s")
			return 0
		}
	}
}

// UntilLive repeats probe until the socket delivers something: the server
// attaches a subscription without answering, so this is how a client knows
// it is live. It returns that first message.
func (s *Socket) UntilLive(probe func(attempt int)) map[string]any {
	s.t.Helper()
	for attempt := range 100 {
		probe(attempt)
		if m, ok := s.Within(200 * time.Millisecond); ok {
			return m
		}
	}
	s.t.Fatal("the subscription never delivered")
	return nil
}

// Close closes the socket from the client's side.
func (s *Socket) Close() { _ = s.conn.Close() }

// Result returns the answer to operation id: its first message that is not
// "complete" (a "next" or an "error").
func (s *Socket) Result(id string) map[string]any {
	s.t.Helper()
	for {
		if m := s.Next(); m["id"] == id && m["type"] != "complete" {
			return m
		}
	}
}
