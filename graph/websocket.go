package graph

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// Websocket close codes beyond RFC 6455's, as graphql-transport-ws uses them.
const (
	// CloseForbidden: no valid token, or it stopped being valid (the user
	// was deactivated, the session ended).
	CloseForbidden = 4403
	// CloseTooMany: the user has too many sockets open.
	CloseTooMany = 4429
)

// Sockets are the open websockets of this process. A socket keeps its
// token, not a frozen viewer: every operation on it loads the viewer afresh,
// so a role change, a deactivation or a password change takes effect on
// sockets that are already open. Sockets are capped per user, every write
// has a deadline (a client that stops reading cannot pin a goroutine), and
// they can be closed all at once (shutdown) or per user (deactivation).
type Sockets struct {
	accounts     *accounts.Service
	maxPerUser   int
	maxOps       int
	writeTimeout time.Duration

	mu     sync.Mutex
	byUser map[pulid.ID]map[*socket]bool
}

// NewSockets returns the registry; zero limits take the defaults.
func NewSockets(acc *accounts.Service, maxPerUser, maxOps int, writeTimeout time.Duration) *Sockets {
	if maxPerUser <= 0 {
		maxPerUser = 50
	}
	if maxOps <= 0 {
		maxOps = 100
	}
	if writeTimeout <= 0 {
		writeTimeout = 10 * time.Second
	}
	return &Sockets{accounts: acc, maxPerUser: maxPerUser, maxOps: maxOps, writeTimeout: writeTimeout, byUser: map[pulid.ID]map[*socket]bool{}}
}

// socket is one websocket connection and who holds it.
type socket struct {
	conn    *websocket.Conn
	timeout time.Duration
	writeMu sync.Mutex
	closed  atomic.Bool

	// Set by connection_init.
	token   string
	viewer  atomic.Pointer[auth.Viewer]
	ops     atomic.Int64
	release func()
}

type socketKey struct{}

func socketFrom(ctx context.Context) *socket {
	s, _ := ctx.Value(socketKey{}).(*socket)
	return s
}

// close ends the socket with a code the client can act on.
func (s *socket) close(code int, reason string) {
	if s.closed.Swap(true) {
		return
	}
	if s.conn != nil {
		s.writeMu.Lock()
		_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		s.writeMu.Unlock()
		_ = s.conn.Close()
	}
}

// CloseAll closes every socket (shutdown: clients reconnect to another replica).
func (ss *Sockets) CloseAll() {
	for _, s := range ss.list(func(pulid.ID) bool { return true }) {
		s.close(websocket.CloseGoingAway, "server shutting down")
	}
}

func (ss *Sockets) list(pick func(pulid.ID) bool) []*socket {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []*socket
	for u, set := range ss.byUser {
		if pick(u) {
			for s := range set {
				out = append(out, s)
			}
		}
	}
	return out
}

// Recheck closes the sockets of a user whose session ended (deactivation,
// password change), at once on this replica.
func (ss *Sockets) Recheck(ctx context.Context, id pulid.ID) {
	ss.sweep(ctx, func(u pulid.ID) bool { return u == id })
}

// Open reports how many sockets are open.
func (ss *Sockets) Open() int {
	return len(ss.list(func(pulid.ID) bool { return true }))
}

// Run closes, every interval, the sockets whose token stopped being valid
// (deactivated users, ended sessions), also when that happened on another
// replica, until ctx ends.
func (ss *Sockets) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ss.sweep(ctx, func(pulid.ID) bool { return true })
	}
}

// sweep closes the picked users' sockets whose session ended, reading each
// user once.
func (ss *Sockets) sweep(ctx context.Context, pick func(pulid.ID) bool) {
	open := ss.list(pick)
	viewers := make([]*auth.Viewer, len(open))
	for i, s := range open {
		viewers[i] = s.viewer.Load()
	}
	ended, err := ss.accounts.Ended(ctx, viewers)
	if err != nil {
		return // the next round checks again
	}
	for i, s := range open {
		if ended[i] {
			s.close(CloseForbidden, "the session ended")
		}
	}
}

// register counts a socket against its user's cap.
func (ss *Sockets) register(s *socket, user pulid.ID) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	set := ss.byUser[user]
	if len(set) >= ss.maxPerUser {
		return false
	}
	if set == nil {
		set = map[*socket]bool{}
		ss.byUser[user] = set
	}
	set[s] = true
	s.release = func() {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		delete(set, s)
		if len(ss.byUser[user]) == 0 {
			delete(ss.byUser, user)
		}
	}
	return true
}

// writeBuffers are the sockets' write buffers, shared between writes.
var writeBuffers = &sync.Pool{}

// transport serves subscriptions (and any operation) over
// graphql-transport-ws and the legacy graphql-ws (wsTransport).
func (ss *Sockets) transport(checkOrigin func(*http.Request) bool) *wsTransport {
	if checkOrigin == nil {
		checkOrigin = func(*http.Request) bool { return true }
	}
	return &wsTransport{
		sockets: ss,
		upgrader: websocket.Upgrader{
			CheckOrigin:  checkOrigin,
			Subprotocols: []string{protoTransportWS, protoLegacy},
			// An idle socket should hold little of its own: a small read
			// buffer (frame headers and control frames go through it, a
			// message longer than it is read past it; the HTTP server's
			// 4 KB reader goes with the handler), and writes borrow a buffer
			// from the pool for the length of one message. 128 is the
			// least gorilla takes (a control frame's payload).
			ReadBufferSize:  128,
			WriteBufferPool: writeBuffers,
		},
		initTimeout: 10 * time.Second,
		keepAlive:   15 * time.Second,
		readLimit:   1 << 20,
	}
}

// withSocket gives a websocket request the slot its socket is kept in.
func withSocket(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			r = r.WithContext(context.WithValue(r.Context(), socketKey{}, &socket{}))
		}
		next.ServeHTTP(w, r)
	})
}

func (s *socket) released() {
	if s.release != nil {
		s.release()
	}
}

// init authenticates a websocket from its connection_init payload
// ({"Authorization": "Bearer …"}, or authToken / token). A socket without a
// valid token is closed with 4403 before any operation runs, as is one over
// the user's cap with 4429: the code is returned with the error.
func (ss *Sockets) init(ctx context.Context, s *socket, p transport.InitPayload) (context.Context, int, error) {
	token := p.Authorization()
	for _, key := range []string{"authToken", "token"} {
		if token == "" {
			token = p.GetString(key)
		}
	}
	if scheme, rest, ok := strings.Cut(token, " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = rest
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return ctx, CloseForbidden, apperr.Unauthenticatedf("authentication required: connection_init must carry Authorization")
	}
	v, err := ss.accounts.Authenticate(socketQuery(ctx), token)
	if err != nil {
		return ctx, CloseForbidden, apperr.Unauthenticatedf("invalid or expired token")
	}
	s.token = token
	s.viewer.Store(v)
	if !ss.register(s, v.UserID) {
		return ctx, CloseTooMany, apperr.Forbiddenf("too many open sockets for this user (at most %d)", ss.maxPerUser)
	}
	return auth.WithViewer(ctx, v), 0, nil
}

// socketQuery is the context for a short query made on a socket's or an
// operation's context, which live for hours: a query on a cancelable
// context leaves its bookkeeping behind on it (the map of children and the
// done channel stay allocated once made), about half a kilobyte a socket
// held for good, for a query that takes a millisecond.
func socketQuery(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

// aroundOperations runs every operation on a socket as its user is now:
// the viewer is loaded afresh from the socket's token (a user that lost its
// session has the socket closed with 4403), and a socket runs at most
// maxOps operations at once.
func (ss *Sockets) aroundOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	s := socketFrom(ctx)
	if s == nil || s.token == "" {
		return next(ctx)
	}
	v, err := ss.accounts.Authenticate(socketQuery(ctx), s.token)
	if err != nil {
		if errors.Is(err, apperr.ErrUnauthenticated) {
			go s.close(CloseForbidden, "the session ended")
		}
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{presentError(ctx, err)}})
	}
	s.viewer.Store(v)
	if s.ops.Add(1) > int64(ss.maxOps) {
		s.ops.Add(-1)
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message:    "too many operations on this socket (at most " + strconv.Itoa(ss.maxOps) + "): complete some first",
			Extensions: map[string]any{"code": "TOO_MANY_REQUESTS"},
		}}})
	}
	context.AfterFunc(ctx, func() { s.ops.Add(-1) })
	return next(auth.WithViewer(ctx, v))
}

// write sends one message made of parts, giving up after the socket's write
// timeout: a client that stops reading cannot hold a writer (and the
// socket) forever. Parts go through the pooled write buffer; a message
// longer than it leaves in several frames, which clients join.
func (s *socket) write(parts ...[]byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	if len(parts) == 1 {
		return s.conn.WriteMessage(websocket.TextMessage, parts[0])
	}
	w, err := s.conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return w.Close()
}
