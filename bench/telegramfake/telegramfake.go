// Package telegramfake is a minimal Telegram Bot API for `make bench`: the
// methods the server calls (getMe, setWebhook, getWebhookInfo,
// deleteWebhook, getMyCommands, sendMessage) in the real API's JSON shapes,
// {"ok":true,"result":...}. platform/telegram/telegramtest is the faithful
// fake, but it needs a testing.TB and checks everything the official server
// checks (https webhooks on a few ports, among others), which a benchmark
// serving plain http on a random port cannot pass. This one accepts any bot
// token of the right form, remembers each bot's webhook so the load
// generator can sign updates with its secret, and counts sends cheaply so
// the outbound rate can be read while it runs.
package telegramfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the fake. The zero value is not usable; call New.
type Server struct {
	mu      sync.Mutex
	bots    map[string]*bot          // by token
	waiters map[string]chan struct{} // by text, see Await

	sent     atomic.Int64 // sendMessage calls answered ok
	lastSent atomic.Int64 // unix nanos of the latest one
}

type bot struct {
	id             int64
	url, secret    string
	allowed        []string // nil: Telegram's default set
	maxConnections int
	chats          map[string]int64 // last message_id per chat
}

// New returns a fake with no bots; bots come into being on their first call.
func New() *Server { return &Server{bots: map[string]*bot{}, waiters: map[string]chan struct{}{}} }

// Token returns a well-formed bot token for bot id n (n > 0): what
// platform/telegram.ValidToken accepts, a 35-character secret after the id.
func Token(n int64) string {
	return fmt.Sprintf("%d:AAbench%028d", n, n)
}

// Listen serves the fake on 127.0.0.1 at a free port and returns its base
// URL (the server's TELEGRAM_API_URL) and a function that stops it.
func (s *Server) Listen() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = hs.Close() }, nil
}

// Secret returns the secret_token the bot with token set its webhook with
// ("" if it has none): what the platform sends in
// X-Telegram-Bot-Api-Secret-Token.
func (s *Server) Secret(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.bots[token]; b != nil {
		return b.secret
	}
	return ""
}

// WebhookURL returns the URL the bot's webhook points at ("" if none).
func (s *Server) WebhookURL(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.bots[token]; b != nil {
		return b.url
	}
	return ""
}

// Sent returns how many messages the fake took with sendMessage and when
// it took the latest.
func (s *Server) Sent() (int64, time.Time) {
	return s.sent.Load(), time.Unix(0, s.lastSent.Load())
}

// Await returns a channel closed when a sendMessage with exactly text
// arrives (from any bot), so that a caller can time one message from its
// sendMessage mutation to its delivery. Call it before the message can be
// sent; texts must be unique among the awaited ones.
func (s *Server) Await(text string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.waiters[text] = ch
	return ch
}

// Forget drops the waiter of text (its message will not come).
func (s *Server) Forget(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiters, text)
}

// ServeHTTP answers POST /bot{token}/{method}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		fail(w, http.StatusNotFound, "Not Found")
		return
	}
	id, secret, _ := strings.Cut(token, ":")
	botID, err := strconv.ParseInt(id, 10, 64)
	if err != nil || botID <= 0 || len(secret) < 30 {
		fail(w, http.StatusUnauthorized, "Unauthorized: invalid token specified")
		return
	}
	args, err := readArgs(r)
	if err != nil {
		fail(w, http.StatusBadRequest, "Bad Request: JSON object expected")
		return
	}

	s.mu.Lock()
	b := s.bots[token]
	if b == nil {
		b = &bot{id: botID, chats: map[string]int64{}}
		s.bots[token] = b
	}
	var result any
	description := ""
	switch strings.ToLower(method) {
	case "getme":
		result = map[string]any{
			"id": b.id, "is_bot": true, "first_name": fmt.Sprintf("Bench %d", b.id), "username": fmt.Sprintf("bench%d_bot", b.id),
			"can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
		}
	case "setwebhook":
		b.url = str(args["url"])
		b.secret = str(args["secret_token"])
		b.maxConnections = 40
		if n, err := strconv.Atoi(str(args["max_connections"])); err == nil && n > 0 {
			b.maxConnections = n
		}
		if raw, ok := args["allowed_updates"]; ok {
			var list []string
			if json.Unmarshal(raw, &list) == nil {
				b.allowed = list
				if len(list) == 0 {
					b.allowed = nil
				}
			}
		}
		result, description = true, "Webhook was set"
	case "deletewebhook":
		b.url, b.secret = "", ""
		result, description = true, "Webhook was deleted"
	case "getwebhookinfo":
		info := map[string]any{"url": b.url, "has_custom_certificate": false, "pending_update_count": 0}
		if b.url != "" {
			info["max_connections"] = b.maxConnections
			info["ip_address"] = "127.0.0.1"
		}
		if b.allowed != nil {
			info["allowed_updates"] = b.allowed
		}
		result = info
	case "getmycommands":
		result = []any{}
	case "sendmessage":
		chat := str(args["chat_id"])
		if _, err := strconv.ParseInt(chat, 10, 64); err != nil {
			s.mu.Unlock()
			fail(w, http.StatusBadRequest, "Bad Request: chat not found")
			return
		}
		if strings.TrimSpace(str(args["text"])) == "" {
			s.mu.Unlock()
			fail(w, http.StatusBadRequest, "Bad Request: message text is empty")
			return
		}
		b.chats[chat]++
		// chat.id is written as the JSON integer it is, never through
		// float64, as the real API does.
		result = map[string]any{
			"message_id": b.chats[chat],
			"date":       time.Now().Unix(),
			"chat":       map[string]any{"id": json.Number(chat), "type": "private"},
			"from":       map[string]any{"id": b.id, "is_bot": true, "first_name": fmt.Sprintf("Bench %d", b.id)},
			"text":       str(args["text"]),
		}
		s.sent.Add(1)
		s.lastSent.Store(time.Now().UnixNano())
		if ch, ok := s.waiters[str(args["text"])]; ok {
			close(ch)
			delete(s.waiters, str(args["text"]))
		}
	default:
		s.mu.Unlock()
		fail(w, http.StatusNotFound, "Not Found: method not found")
		return
	}
	s.mu.Unlock()
	answer := map[string]any{"ok": true, "result": result}
	if description != "" {
		answer["description"] = description
	}
	write(w, http.StatusOK, answer)
}

// readArgs reads a JSON object body (what the server's client sends) and
// the query string, as raw JSON values.
func readArgs(r *http.Request) (map[string]json.RawMessage, error) {
	args := map[string]json.RawMessage{}
	for k, vs := range r.URL.Query() {
		args[k], _ = json.Marshal(vs[0])
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return args, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, err
	}
	for k, v := range obj {
		args[k] = v
	}
	return args, nil
}

// str is a parameter as the Bot API reads it: a JSON string's contents, or
// any other JSON value's text (chat_id comes as a number).
func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

func fail(w http.ResponseWriter, code int, description string) {
	write(w, code, map[string]any{"ok": false, "error_code": code, "description": description})
}

func write(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
