// Command broadcaster is the limit probe for live delivery: how fast this
// machine can fan a webhook's message out to graphql-transport-ws
// subscribers when nothing but the fan-out is done (no database, no
// journal, no processing, no GraphQL execution). `make bench` drives it with
// the same client code it drives the real server with and reads "webhook →
// subscriber" as a ratio of it.
//
// GET /graphql speaks the graphql-transport-ws subprotocol: connection_init
// is acknowledged (no authentication), ping is answered with pong, subscribe
// registers the subscription under its variables.campaignID whatever its
// query, complete removes it. POST /webhooks/telegram/{connectionID} (the
// real server's request: secret header, a Telegram update body) sends
// message.text as a messageAdded to every subscription of the connection's
// campaign, named by the -routes file, then answers 200.
//
// Each message is encoded once; every subscription's frame is its own
// prefix (id and type, encoded when it subscribed) around those shared
// bytes. Each socket has one writer goroutine fed by a buffered channel, so
// no lock is held while a socket is written to; a socket whose queue is full
// is closed rather than allowed to hold the others up.
//
//	broadcaster -addr 127.0.0.1:9102 -secret s3cret -routes routes.json
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-chat/switchboard/bench/probe/probeserve"
)

const (
	maxBody      = 1 << 20
	secretHeader = "X-Telegram-Bot-Api-Secret-Token"
	subprotocol  = "graphql-transport-ws"
	// writeWait bounds one write to a socket, so that a client that stopped
	// reading costs its writer goroutine, not the process.
	writeWait = 10 * time.Second
)

func main() {
	addr := flag.String("addr", "", "listen address, host:port (required; port 0 is refused: the harness must know it)")
	secret := flag.String("secret", "", "the X-Telegram-Bot-Api-Secret-Token every webhook must carry (required)")
	routes := flag.String("routes", "", `JSON file {"<connectionID>":"<campaignID>", ...} (required)`)
	queue := flag.Int("queue", 256, "messages a socket may have waiting before it is closed as too slow (5 s at 50 msg/s)")
	flag.Parse()
	if err := run(*addr, *secret, *routes, *queue); err != nil {
		fmt.Fprintln(os.Stderr, "broadcaster:", err)
		os.Exit(1)
	}
}

func run(addr, secret, routesFile string, queue int) error {
	if err := probeserve.CheckAddr(addr); err != nil {
		return err
	}
	if secret == "" || routesFile == "" {
		return errors.New("-secret and -routes are required")
	}
	if queue < 1 {
		return errors.New("-queue must be at least 1")
	}
	raw, err := os.ReadFile(routesFile)
	if err != nil {
		return err
	}
	routes := map[string]string{}
	if err := json.Unmarshal(raw, &routes); err != nil {
		return fmt.Errorf("reading %s: %w", routesFile, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b := newBroadcaster(secret, routes, queue)
	return probeserve.Serve(ctx, addr, b.handler(), b.closeAll)
}

// broadcaster holds the subscriptions of every socket by campaign.
type broadcaster struct {
	secret   [32]byte
	routes   map[string]string // connection id → campaign id; read only
	queue    int
	upgrader websocket.Upgrader
	seq      atomic.Int64 // message ids

	mu      sync.RWMutex
	byCamp  map[string]map[*subscription]struct{}
	sockets map[*socket]struct{}
}

func newBroadcaster(secret string, routes map[string]string, queue int) *broadcaster {
	return &broadcaster{
		secret: sha256.Sum256([]byte(secret)), routes: routes, queue: queue,
		// The real server's buffer sizes (graph/websocket.go), so that the
		// comparison is of the work, not of the buffers.
		upgrader: websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, Subprotocols: []string{subprotocol},
			CheckOrigin: func(*http.Request) bool { return true }},
		byCamp: map[string]map[*subscription]struct{}{}, sockets: map[*socket]struct{}{},
	}
}

func (b *broadcaster) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /graphql", b.socket)
	mux.HandleFunc("POST /webhooks/telegram/{connectionID}", b.webhook)
	return mux
}

// frame is one message for a socket: prefix, then, when shared is set, the
// shared bytes and a closing brace. Frames of one broadcast share their
// payload, so fan-out allocates nothing per subscriber.
type frame struct {
	prefix, shared []byte
}

var closeBrace = []byte("}")

type socket struct {
	conn   *websocket.Conn
	out    chan frame
	done   chan struct{} // closed when the socket is done for
	once   sync.Once
	subs   map[string]*subscription // by id; only the reading goroutine touches it
	acked  bool
	reason string // why it was dropped, for the log
}

type subscription struct {
	s        *socket
	campaign string
	// prefix is the frame up to the payload: {"id":<id>,"type":"next","payload":
	prefix []byte
}

// send queues f without ever blocking the caller: a socket that cannot take
// it is closed (its reader sees the close and unregisters it).
func (s *socket) send(f frame) bool {
	select {
	case s.out <- f:
		return true
	case <-s.done:
		return false
	default:
		s.drop("too slow: its queue is full")
		return false
	}
}

func (s *socket) drop(reason string) {
	s.once.Do(func() {
		s.reason = reason
		close(s.done)
		// Closing the connection ends the reader, which unregisters.
		_ = s.conn.Close()
	})
}

// closeWith sends a close frame with a graphql-transport-ws code, then closes.
// WriteControl may be called beside the writer goroutine (gorilla allows it).
func (s *socket) closeWith(code int, text string) {
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	s.drop(text)
}

// write is the socket's only writer of data frames.
func (s *socket) write() {
	for {
		select {
		case <-s.done:
			return
		case f := <-s.out:
			_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait))
			w, err := s.conn.NextWriter(websocket.TextMessage)
			if err == nil {
				_, _ = w.Write(f.prefix)
				if f.shared != nil {
					_, _ = w.Write(f.shared)
					_, _ = w.Write(closeBrace)
				}
				err = w.Close()
			}
			if err != nil {
				s.drop("write failed: " + err.Error())
				return
			}
		}
	}
}

// inbound is a graphql-transport-ws client message.
type inbound struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Payload struct {
		Variables struct {
			CampaignID string `json:"campaignID"`
		} `json:"variables"`
	} `json:"payload"`
}

var (
	ackFrame  = frame{prefix: []byte(`{"type":"connection_ack"}`)}
	pongFrame = frame{prefix: []byte(`{"type":"pong"}`)}
)

func (b *broadcaster) socket(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "websocket only", http.StatusBadRequest)
		return
	}
	conn, err := b.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered
	}
	if conn.Subprotocol() != subprotocol {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4406, "subprotocol not acceptable"), time.Now().Add(time.Second))
		_ = conn.Close()
		return
	}
	conn.SetReadLimit(maxBody)
	s := &socket{conn: conn, out: make(chan frame, b.queue), done: make(chan struct{}), subs: map[string]*subscription{}}
	b.mu.Lock()
	b.sockets[s] = struct{}{}
	b.mu.Unlock()
	go s.write()
	defer b.unregister(s)
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			s.drop("closed")
			return
		}
		var m inbound
		if err := json.Unmarshal(data, &m); err != nil {
			s.closeWith(4400, "invalid message")
			return
		}
		switch m.Type {
		case "connection_init":
			if s.acked {
				s.closeWith(4429, "too many initialisation requests")
				return
			}
			s.acked = true
			s.send(ackFrame)
		case "ping":
			s.send(pongFrame)
		case "pong":
		case "subscribe":
			if !s.acked {
				s.closeWith(4401, "unauthorized")
				return
			}
			if m.ID == "" || m.Payload.Variables.CampaignID == "" {
				s.closeWith(4400, "subscribe needs an id and variables.campaignID")
				return
			}
			if _, dup := s.subs[m.ID]; dup {
				s.closeWith(4409, "subscriber for "+m.ID+" already exists")
				return
			}
			id, _ := json.Marshal(m.ID)
			sub := &subscription{s: s, campaign: m.Payload.Variables.CampaignID,
				prefix: append(append([]byte(`{"id":`), id...), `,"type":"next","payload":`...)}
			s.subs[m.ID] = sub
			b.mu.Lock()
			set := b.byCamp[sub.campaign]
			if set == nil {
				set = map[*subscription]struct{}{}
				b.byCamp[sub.campaign] = set
			}
			set[sub] = struct{}{}
			b.mu.Unlock()
		case "complete":
			if sub := s.subs[m.ID]; sub != nil {
				delete(s.subs, m.ID)
				b.mu.Lock()
				b.remove(sub)
				b.mu.Unlock()
			}
		default:
			s.closeWith(4400, "unknown message type "+strconv.Quote(m.Type))
			return
		}
	}
}

// remove takes sub out of its campaign; b.mu is held.
func (b *broadcaster) remove(sub *subscription) {
	set := b.byCamp[sub.campaign]
	delete(set, sub)
	if len(set) == 0 {
		delete(b.byCamp, sub.campaign)
	}
}

func (b *broadcaster) unregister(s *socket) {
	b.mu.Lock()
	for _, sub := range s.subs {
		b.remove(sub)
	}
	delete(b.sockets, s)
	b.mu.Unlock()
	if s.reason != "closed" && s.reason != "shutdown" {
		fmt.Fprintln(os.Stderr, "broadcaster: socket dropped:", s.reason)
	}
}

// closeAll ends every socket at shutdown (the HTTP server does not track
// hijacked connections).
func (b *broadcaster) closeAll() {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.sockets {
		s.closeWith(websocket.CloseGoingAway, "shutdown")
	}
}

// update is the part of a Telegram update the probe reads.
type update struct {
	UpdateID json.RawMessage `json:"update_id"`
	Message  *struct {
		Text string `json:"text"`
		Date int64  `json:"date"`
	} `json:"message"`
}

// added is the payload of a next message: the subscription's result.
type added struct {
	Data struct {
		MessageAdded struct {
			ID        string `json:"id"`
			Text      string `json:"text"`
			Direction string `json:"direction"`
			SentAt    string `json:"sentAt"`
		} `json:"messageAdded"`
	} `json:"data"`
}

func (b *broadcaster) webhook(w http.ResponseWriter, r *http.Request) {
	got := sha256.Sum256([]byte(r.Header.Get(secretHeader)))
	if subtle.ConstantTimeCompare(got[:], b.secret[:]) != 1 {
		http.Error(w, "wrong secret token", http.StatusUnauthorized)
		return
	}
	campaign, ok := b.routes[r.PathValue("connectionID")]
	if !ok {
		http.Error(w, "no such connection", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body over 1 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the body", http.StatusBadRequest)
		return
	}
	var u update
	if err := json.Unmarshal(body, &u); err != nil || len(u.UpdateID) == 0 || string(u.UpdateID) == "null" {
		http.Error(w, "not a Telegram update (no update_id)", http.StatusBadRequest)
		return
	}
	if u.Message != nil {
		var p added
		m := &p.Data.MessageAdded
		m.ID = "msg_probe_" + strconv.FormatInt(b.seq.Add(1), 10)
		m.Text, m.Direction = u.Message.Text, "INBOUND"
		// Like the real server: a message is dated by the platform's date.
		at := time.Now()
		if u.Message.Date > 0 {
			at = time.Unix(u.Message.Date, 0)
		}
		m.SentAt = at.UTC().Format(time.RFC3339Nano)
		payload, err := marshal(p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		b.broadcast(campaign, payload)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

// broadcast queues payload for every subscription of the campaign. The read
// lock is held only while queueing, which never blocks; the writes happen in
// each socket's writer goroutine.
func (b *broadcaster) broadcast(campaign string, payload []byte) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for sub := range b.byCamp[campaign] {
		sub.s.send(frame{prefix: sub.prefix, shared: payload})
	}
}

// marshal encodes v without HTML escaping (as gqlgen writes strings) and
// without the trailing newline of an Encoder.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
