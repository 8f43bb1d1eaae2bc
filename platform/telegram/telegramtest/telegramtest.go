// Package telegramtest is a fake Telegram Bot API server for tests. It
// answers getMe, setWebhook, getWebhookInfo, deleteWebhook and
// getMyCommands, and the sends sendMessage, sendPhoto, sendDocument,
// sendAudio and sendVideo, in the wire
// format of the official server (tdlib/telegram-bot-api), including its
// token checks, its validation of parameters and its error wording, so a
// client that works against it should work against api.telegram.org.
package telegramtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// Server is a fake Bot API at s.URL, the baseURL to give telegram.New. It
// is safe for concurrent use.
type Server struct {
	*httptest.Server // nil for a fake made by New
	t                TB

	mu     sync.Mutex
	anyURL bool                        // AcceptAnyWebhookURL
	bots   map[string]*bot             // by token
	fails  map[string][]failure        // by lowercased method, oldest first
	calls  map[string][]map[string]any // by lowercased method
}

// bot is what the server keeps per token. allowed lives outside the webhook
// because on the real server it belongs to the bot and survives
// deleteWebhook.
type bot struct {
	user        telegram.User
	revoked     bool
	hook        hook
	allowed     []string // nil: Telegram's default set
	lastErrorAt time.Time
	lastError   string
	chats       map[int64]*chat
	files       map[string]bool // file_ids the fake handed out
	sent        []SentMessage
	commands    []telegram.BotCommand // what getMyCommands answers
	pending     int                   // getWebhookInfo's pending_update_count
}

type hook struct {
	url            string // "" when no webhook is set
	secret         string
	maxConnections int
	ipAddress      string
}

type failure struct {
	status, code int
	description  string
	retryAfter   int
}

// WebhookState is the webhook the fake holds for a bot.
type WebhookState struct {
	URL            string
	SecretToken    string
	AllowedUpdates []string // nil when the bot uses the default set
	MaxConnections int
	Set            bool // a webhook is set (URL != "")
}

// TB is what the fake needs of a test (testing.TB has it): where to
// report misuse, such as adding a bot with a malformed token.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewServer starts a fake with no bots; it is closed when t ends.
func NewServer(t TB) *Server {
	t.Helper()
	s := New()
	s.t = t
	s.Server = httptest.NewServer(s.Handler())
	t.Cleanup(s.Close)
	return s
}

// New makes a fake with no bots and no listener of its own, for a server
// that mounts Handler (the development sandbox). Misuse panics: there is
// no test to fail.
func New() *Server {
	return &Server{
		t:     panics{},
		bots:  map[string]*bot{},
		fails: map[string][]failure{},
		calls: map[string][]map[string]any{},
	}
}

// AcceptAnyWebhookURL lets setWebhook take http URLs on any port, which
// Telegram refuses: the sandbox's fake never calls the webhook, and a
// developer's server is http://localhost:8080.
func (s *Server) AcceptAnyWebhookURL() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anyURL = true
}

// Handler serves the Bot API at its root: /bot<token>/<method>.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

type panics struct{}

func (panics) Helper()                           {}
func (panics) Cleanup(func())                    {}
func (panics) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// AddBot makes token a live bot that getMe describes as bot. The token must
// pass telegram.ValidToken; bot.ID defaults to the token's bot id and must
// match it when given, as on Telegram.
func (s *Server) AddBot(token string, u telegram.User) {
	s.t.Helper()
	if err := telegram.ValidToken(token); err != nil {
		s.t.Fatalf("telegramtest.AddBot: %v", err)
	}
	id, _ := strconv.ParseInt(telegram.BotID(token), 10, 64)
	if u.ID == 0 {
		u.ID = id
	} else if u.ID != id {
		s.t.Fatalf("telegramtest.AddBot: bot id %d does not match the token's %d", u.ID, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bots[token] = &bot{user: u, chats: map[int64]*chat{}, files: map[string]bool{}}
}

// RevokeBot makes every later call with token answer 401 Unauthorized, as
// after /revoke in BotFather.
func (s *Server) RevokeBot(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.bots[token]; b != nil {
		b.revoked = true
	}
}

// Webhook returns the webhook the fake holds for token (zero if unknown).
func (s *Server) Webhook(token string) WebhookState {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[token]
	if b == nil {
		return WebhookState{}
	}
	return WebhookState{
		URL:            b.hook.url,
		SecretToken:    b.hook.secret,
		AllowedUpdates: slices.Clone(b.allowed),
		MaxConnections: b.hook.maxConnections,
		Set:            b.hook.url != "",
	}
}

// SetLastError records a failed delivery, reported by getWebhookInfo until
// the webhook is set again or deleted.
func (s *Server) SetLastError(token string, at time.Time, msg string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[token]
	if b == nil {
		s.t.Fatalf("telegramtest.SetLastError: no bot with that token")
		return
	}
	b.lastErrorAt, b.lastError = at, msg
}

// FailNext makes the next call of method (any token) answer HTTP status
// with {"ok":false,"error_code":errorCode,"description":description}, plus
// parameters.retry_after and a Retry-After header when retryAfter > 0.
// Failures queue up per method.
func (s *Server) FailNext(method string, status int, errorCode int, description string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := strings.ToLower(method)
	s.fails[m] = append(s.fails[m], failure{status, errorCode, description, retryAfter})
}

// Calls returns the parameters of every request made to method, in order,
// whatever the answer. JSON bodies decode as encoding/json does into any
// (numbers are float64), except that an integer beyond ±2^53 (a chat id)
// is a json.Number, as float64 would round it; query and form parameters
// are strings.
func (s *Server) Calls(method string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls[strings.ToLower(method)])
}

// apiError is an error answer; its code is also the HTTP status, as on
// the real server.
type apiError struct {
	code        int
	description string
}

func errorf(code int, description string) *apiError {
	return &apiError{code, description}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	token, method, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		writeError(w, http.StatusNotFound, http.StatusNotFound, "Not Found", 0)
		return
	}
	args, recorded, aerr := readArgs(r)
	if aerr != nil {
		writeError(w, aerr.code, aerr.code, aerr.description, 0)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method] = append(s.calls[method], recorded)
	if q := s.fails[method]; len(q) > 0 {
		f := q[0]
		s.fails[method] = q[1:]
		writeError(w, f.status, f.code, f.description, f.retryAfter)
		return
	}
	if aerr := checkToken(token); aerr != nil {
		writeError(w, aerr.code, aerr.code, aerr.description, 0)
		return
	}
	b := s.bots[token]
	if b == nil || b.revoked {
		writeError(w, http.StatusUnauthorized, http.StatusUnauthorized, "Unauthorized", 0)
		return
	}

	var (
		result      any
		description string
	)
	switch method {
	case "getme":
		result = getMe(b.user)
	case "getwebhookinfo":
		result = webhookInfo(b)
	case "getmycommands":
		result = getMyCommands(b)
	case "setwebhook":
		description, aerr = setWebhook(b, args, s.anyURL)
		result = true
	case "deletewebhook":
		description = deleteWebhook(b)
		result = true
	case "sendmessage", "sendphoto", "senddocument", "sendaudio", "sendvideo":
		result, aerr = send(b, method, args)
	case "answercallbackquery":
		result, aerr = answerCallbackQuery(args)
	default:
		aerr = errorf(http.StatusNotFound, "Not Found: method not found")
	}
	if aerr != nil {
		writeError(w, aerr.code, aerr.code, aerr.description, 0)
		return
	}
	answer := map[string]any{"ok": true, "result": result}
	if description != "" {
		answer["description"] = description
	}
	writeJSON(w, http.StatusOK, answer)
}

// splitPath splits /bot{token}/{method}; method names are case-insensitive.
// The token is URL-decoded after the split, so an escaped '/' stays in it
// and meets the server's '/' check. (The official server decodes first, so
// there the token ends at that '/' and fails as an unknown bot: 401 too.)
func splitPath(escaped string) (token, method string, ok bool) {
	rest, ok := strings.CutPrefix(escaped, "/bot")
	if !ok {
		return "", "", false
	}
	rawToken, rawMethod, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", false
	}
	token, err := url.PathUnescape(rawToken)
	if err != nil {
		return "", "", false
	}
	method, err = url.PathUnescape(rawMethod)
	if err != nil {
		return "", "", false
	}
	return token, strings.ToLower(method), true
}

// checkToken applies the official server's checks of a token's form, made
// before it knows whether the bot exists.
func checkToken(token string) *apiError {
	invalid := errorf(http.StatusUnauthorized, "Unauthorized: invalid token specified")
	id, _, hasColon := strings.Cut(token, ":")
	if !hasColon || strings.HasPrefix(token, "0") || len(token) > 80 || strings.Contains(token, "/") {
		return invalid
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return errorf(http.StatusMisdirectedRequest, "Misdirected Request: unallowed token specified")
	}
	if n <= 0 || n >= 1<<54 {
		return invalid
	}
	return nil
}

// readArgs collects the request's parameters as the official server sees
// them, all strings: the query string, then a JSON object body (non-string
// values kept as their JSON text) or a form body. It also returns them in
// the shape Calls reports.
func readArgs(r *http.Request) (args map[string]string, recorded map[string]any, aerr *apiError) {
	args = map[string]string{}
	recorded = map[string]any{}
	for k, vs := range r.URL.Query() {
		args[k], recorded[k] = vs[0], vs[0]
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "application/json":
		var raw map[string]json.RawMessage
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
			// The real server's wording depends on where parsing fails;
			// this is its answer for a body that is not an object.
			return nil, nil, errorf(http.StatusBadRequest, "Bad Request: JSON object expected")
		}
		for k, v := range raw {
			var s string
			if json.Unmarshal(v, &s) == nil {
				args[k] = s
			} else {
				args[k] = string(v)
			}
			recorded[k] = plainJSON(v)
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil && mediaType == "multipart/form-data" {
			return nil, nil, errorf(http.StatusBadRequest, "Bad Request: can't parse multipart form")
		}
		for k, vs := range r.PostForm {
			args[k], recorded[k] = vs[0], vs[0]
		}
	}
	return args, recorded, nil
}

// getMe renders the bot as getMe does, with the fields only getMe returns.
func getMe(u telegram.User) map[string]any {
	m := map[string]any{
		"id":                          u.ID,
		"is_bot":                      u.IsBot,
		"first_name":                  u.FirstName,
		"can_join_groups":             true,
		"can_read_all_group_messages": u.CanReadAllGroupMessages,
		"supports_inline_queries":     false,
		"can_connect_to_business":     false,
		"has_main_web_app":            false,
	}
	if u.LastName != "" {
		m["last_name"] = u.LastName
	}
	if u.Username != "" {
		m["username"] = u.Username
	}
	return m
}

// webhookInfo renders getWebhookInfo: url, has_custom_certificate and
// pending_update_count always, the rest only when they have a value.
func webhookInfo(b *bot) map[string]any {
	m := map[string]any{
		"url":                    b.hook.url,
		"has_custom_certificate": false,
		"pending_update_count":   b.pending,
	}
	if !b.lastErrorAt.IsZero() {
		m["last_error_date"] = b.lastErrorAt.Unix()
		m["last_error_message"] = b.lastError
	}
	if b.hook.url != "" {
		m["max_connections"] = b.hook.maxConnections
		// The real server shows the address it resolved; the fake resolves
		// nothing, and before resolving the real one says "<unknown>" too.
		ip := b.hook.ipAddress
		if ip == "" {
			ip = "<unknown>"
		}
		m["ip_address"] = ip
	}
	if b.allowed != nil {
		m["allowed_updates"] = b.allowed
	}
	return m
}

// setWebhook applies setWebhook as the official server does: an empty url
// deletes; unchanged settings answer "already set"; otherwise the URL and
// secret are checked and the webhook replaced.
func setWebhook(b *bot, args map[string]string, anyURL bool) (string, *apiError) {
	newURL := args["url"]
	if newURL == "" {
		return deleteWebhook(b), nil
	}
	next := hook{
		url:            newURL,
		secret:         args["secret_token"],
		maxConnections: maxConnections(args["max_connections"]),
		ipAddress:      args["ip_address"],
	}
	if next == b.hook && !toBool(args["drop_pending_updates"]) {
		updateAllowed(b, args["allowed_updates"])
		return "Webhook is already set", nil
	}
	u, err := url.Parse(newURL)
	if err != nil || (u.Scheme != "https" && !anyURL) || u.Host == "" {
		return "", errorf(http.StatusBadRequest, "Bad Request: invalid webhook URL specified")
	}
	if len(next.secret) > 256 {
		return "", errorf(http.StatusBadRequest, "Bad Request: secret token is too long")
	}
	if !base64URL(next.secret) {
		return "", errorf(http.StatusBadRequest, "Bad Request: secret token contains unallowed characters")
	}
	if p := u.Port(); !anyURL && p != "" && p != "443" && p != "80" && p != "88" && p != "8443" {
		return "", errorf(http.StatusBadRequest, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
	}
	b.hook = next
	b.lastErrorAt, b.lastError = time.Time{}, ""
	if toBool(args["drop_pending_updates"]) {
		b.pending = 0
	}
	updateAllowed(b, args["allowed_updates"])
	return "Webhook was set", nil
}

func deleteWebhook(b *bot) string {
	if b.hook.url == "" {
		return "Webhook is already deleted"
	}
	b.hook = hook{}
	b.lastErrorAt, b.lastError = time.Time{}, ""
	return "Webhook was deleted"
}

// maxConnections reads max_connections as the server does: default 40,
// anything else clamped to 1-100 (unparsable text counts as 0).
func maxConnections(s string) int {
	if s == "" {
		return 40
	}
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return min(max(n, 1), 100)
}

// updateAllowed applies allowed_updates: absent or unparsable keeps the
// previous choice, an empty list restores the default, names are
// case-insensitive.
func updateAllowed(b *bot, raw string) {
	if raw == "" {
		return
	}
	var names []string
	if json.Unmarshal([]byte(raw), &names) != nil {
		return
	}
	if len(names) == 0 {
		b.allowed = nil
		return
	}
	for i, n := range names {
		names[i] = strings.ToLower(n)
	}
	b.allowed = names
}

func toBool(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return s == "true" || s == "yes" || s == "1"
}

func base64URL(s string) bool {
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func writeError(w http.ResponseWriter, status, code int, description string, retryAfter int) {
	answer := map[string]any{"ok": false, "error_code": code, "description": description}
	if retryAfter > 0 {
		answer["parameters"] = map[string]any{"retry_after": retryAfter}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	writeJSON(w, status, answer)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("telegramtest: encoding answer: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
