package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Dialer opens the subscribers' websockets. Small buffers keep ten
// thousand client sockets cheap in the load generator's own memory, which
// shares the machine with the server being measured.
var Dialer = &websocket.Dialer{
	Proxy:            http.ProxyFromEnvironment,
	HandshakeTimeout: 15 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  1024,
	Subprotocols:     []string{"graphql-transport-ws"},
}

// Subscriber is one graphql-transport-ws socket with one subscription.
type Subscriber struct {
	conn     *websocket.Conn
	wmu      sync.Mutex
	received atomic.Int64
	done     chan struct{}
	err      atomic.Pointer[error]
}

// OnText is called, from the subscriber's reading goroutine, with the text
// field of each event's payload and the time its frame was read.
type OnText func(text string, at time.Time)

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type nextPayload struct {
	// data holds one field, the subscription's (messageAdded), whose text
	// is what the load generator stamped.
	Data   map[string]struct{ Text string } `json:"data"`
	Errors []struct{ Message string }       `json:"errors"`
}

// Subscribe opens a socket to url (ws://host/graphql), authenticates with
// token in connection_init as Switchboard's SPA does, starts query with
// vars and returns once the server acknowledged the connection. Each
// event's text goes to onText. The subscription itself has no
// acknowledgement in graphql-transport-ws: callers that must know it is live
// wait for a first event (see Fleet.Prime).
func Subscribe(ctx context.Context, url, token, query string, vars map[string]any, onText OnText) (*Subscriber, error) {
	conn, resp, err := Dialer.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %d)", url, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	s := &Subscriber{conn: conn, done: make(chan struct{})}
	init := map[string]any{}
	if token != "" {
		init["Authorization"] = "Bearer " + token
	}
	if err := s.write(map[string]any{"type": "connection_init", "payload": init}); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for acked := false; !acked; {
		var m wsMessage
		if err := conn.ReadJSON(&m); err != nil {
			conn.Close()
			return nil, fmt.Errorf("waiting for connection_ack: %w", err)
		}
		switch m.Type {
		case "connection_ack":
			acked = true
		case "ping":
			_ = s.write(map[string]any{"type": "pong"})
		default:
			conn.Close()
			return nil, fmt.Errorf("waiting for connection_ack, got %s %s", m.Type, m.Payload)
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	sub := map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}}
	if err := s.write(sub); err != nil {
		conn.Close()
		return nil, err
	}
	go s.read(onText)
	return s, nil
}

func (s *Subscriber) write(v any) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.conn.WriteJSON(v)
}

func (s *Subscriber) read(onText OnText) {
	defer close(s.done)
	for {
		_, data, err := s.conn.ReadMessage()
		at := time.Now()
		if err != nil {
			s.fail(err)
			return
		}
		var m wsMessage
		if err := json.Unmarshal(data, &m); err != nil {
			s.fail(fmt.Errorf("unreadable frame: %w", err))
			return
		}
		switch m.Type {
		case "next":
			var p nextPayload
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				s.fail(fmt.Errorf("unreadable next: %w", err))
				return
			}
			if len(p.Errors) > 0 {
				s.fail(errors.New("subscription error: " + p.Errors[0].Message))
				return
			}
			for _, v := range p.Data {
				s.received.Add(1)
				if onText != nil {
					onText(v.Text, at)
				}
			}
		case "ping":
			_ = s.write(map[string]any{"type": "pong"})
		case "pong":
		case "error":
			s.fail(fmt.Errorf("subscription error: %s", m.Payload))
			return
		case "complete":
			s.fail(errors.New("subscription completed by the server"))
			return
		}
	}
}

func (s *Subscriber) fail(err error) { s.err.CompareAndSwap(nil, &err) }

// Received is how many events arrived.
func (s *Subscriber) Received() int64 { return s.received.Load() }

// Err is why the subscription ended, or nil while it runs.
func (s *Subscriber) Err() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close ends the socket and waits for its reader.
func (s *Subscriber) Close() {
	s.wmu.Lock()
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	s.wmu.Unlock()
	_ = s.conn.Close()
	<-s.done
}

// Fleet is many subscribers opened together.
type Fleet struct {
	Subs []*Subscriber
}

// Target is what one subscriber of a fleet subscribes to.
type Target struct {
	URL   string         // ws://host:port/graphql
	Token string         // bearer token for connection_init
	Vars  map[string]any // the subscription's variables
}

// OpenFleet opens n subscribers with query, the i-th to target(i), dialing
// up to parallel at once. It fails (closing what it opened) if any fails.
func OpenFleet(ctx context.Context, n, parallel int, query string, target func(i int) Target, onText func(i int) OnText) (*Fleet, error) {
	f := &Fleet{Subs: make([]*Subscriber, n)}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, parallel)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t := target(i)
			s, err := Subscribe(ctx, t.URL, t.Token, query, t.Vars, onText(i))
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("subscriber %d: %w", i, err)
				}
				mu.Unlock()
				return
			}
			f.Subs[i] = s
		})
	}
	wg.Wait()
	if firstErr != nil {
		f.Close()
		return nil, firstErr
	}
	return f, nil
}

// Prime waits until every subscriber has received at least one event,
// calling poke (which should send one event to every subscription, e.g. a
// warm-up webhook per campaign) at once and then every interval: this is how
// the caller knows the subscriptions are live before it starts the clock.
func (f *Fleet) Prime(ctx context.Context, timeout, interval time.Duration, poke func() error) error {
	deadline := time.Now().Add(timeout)
	next := time.Now()
	for {
		if err := f.Err(); err != nil {
			return err
		}
		waiting := 0
		for _, s := range f.Subs {
			if s.Received() == 0 {
				waiting++
			}
		}
		if waiting == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d subscribers received nothing within %s", waiting, len(f.Subs), timeout)
		}
		if !time.Now().Before(next) {
			if err := poke(); err != nil {
				return err
			}
			next = time.Now().Add(interval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Received is the total of events all subscribers received.
func (f *Fleet) Received() int64 {
	var n int64
	for _, s := range f.Subs {
		n += s.Received()
	}
	return n
}

// Err is the first subscriber's failure, if any.
func (f *Fleet) Err() error {
	for i, s := range f.Subs {
		if err := s.Err(); err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
	}
	return nil
}

// Close closes every subscriber, in parallel: one by one, ten thousand
// close handshakes take a while.
func (f *Fleet) Close() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, s := range f.Subs {
		if s == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.Close()
		})
	}
	wg.Wait()
}

// Stamped returns an OnText that records, for each text stamped with tag
// (see Stamp), the time from its due send to its arrival. Texts with
// another tag (warm-ups, earlier runs) are ignored.
func (r *Recorder) Stamped(tag string) OnText {
	return func(text string, at time.Time) {
		if t, due, ok := ParseStamp(text); ok && t == tag {
			r.Add(at.Sub(due))
		}
	}
}
