package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-chat/switchboard/metrics"
	"github.com/switchboard-chat/switchboard/tracing"
)

// The websocket subprotocols: graphql-transport-ws (the graphql-ws library)
// and the legacy subscriptions-transport-ws, which calls itself graphql-ws
// and is what a client naming none gets.
const (
	protoTransportWS = "graphql-transport-ws"
	protoLegacy      = "graphql-ws"
)

// graphql-transport-ws's close codes, beside CloseForbidden and CloseTooMany.
const (
	closeBadRequest  = 4400
	closeInitTimeout = 4408
	closeDuplicateID = 4409
)

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsTransport serves GraphQL over websockets, in place of gqlgen's
// transport, to keep what an idle subscriber costs small (thousands of
// agents each hold sockets for hours). The HTTP handler returns right after
// the upgrade, so its goroutine and its grown stack go; one goroutine per
// socket reads; operations start on a short-lived goroutine, so the reader
// never grows deep; and a subscription's values are written to the socket
// by the hub's goroutine for it (events.StreamNotify), so nothing of the
// transport waits per subscription. gqlgen's executor still parses,
// validates and executes everything, with the same extensions and limits.
type wsTransport struct {
	sockets     *Sockets
	upgrader    websocket.Upgrader
	initTimeout time.Duration
	// keepAlive is the interval of the legacy protocol's "ka" messages.
	keepAlive time.Duration
	readLimit int64
}

var _ graphql.Transport = (*wsTransport)(nil)

func (t *wsTransport) Supports(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

func (t *wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	conn, err := t.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with the reason
	}
	s := socketFrom(r.Context())
	if s == nil {
		s = &socket{}
	}
	s.conn, s.timeout = conn, t.sockets.writeTimeout
	if t.readLimit > 0 {
		conn.SetReadLimit(t.readLimit)
	}
	// The request's headers are not kept: nothing reads them from an
	// operation, and a socket would hold them for hours.
	c := &wsConn{t: t, s: s, exec: exec, legacy: conn.Subprotocol() != protoTransportWS, ops: map[string]*operation{}}
	// The request's context ends when this handler returns; its values
	// (the socket, the client's address) stay.
	go c.serve(context.WithoutCancel(r.Context()))
}

// wsConn is one socket's protocol state.
type wsConn struct {
	t      *wsTransport
	s      *socket
	exec   graphql.GraphExecutor
	legacy bool

	mu  sync.Mutex
	ops map[string]*operation
	ka  *time.Timer
}

// serve reads the socket until it ends.
func (c *wsConn) serve(ctx context.Context) {
	metrics.WebsocketsOpen.Inc()
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		c.mu.Lock()
		for _, op := range c.ops {
			op.cancel()
		}
		if c.ka != nil {
			c.ka.Stop()
		}
		c.mu.Unlock()
		c.s.close(websocket.CloseNormalClosure, "terminated")
		c.s.released()
		metrics.WebsocketsOpen.Dec()
	}()

	ctx, ok := c.init(ctx)
	if !ok {
		return
	}
	// A token that expires ends the socket. A timer rather than a context
	// deadline: every context a socket keeps costs it for hours.
	expiry := time.AfterFunc(time.Until(time.Unix(c.s.viewer.Load().ExpiresAt, 0)), func() {
		c.s.close(websocket.CloseNormalClosure, "the token expired")
	})
	defer expiry.Stop()
	for {
		_, b, err := c.s.conn.ReadMessage()
		if err != nil {
			return
		}
		// Decoding and acting on a message run on a goroutine of their
		// own: the reader then stays as shallow as a blocked read, the
		// state a socket spends its hours in, and its stack small.
		more := false
		shallow(func() { more = c.handle(ctx, b) })
		if !more {
			return
		}
	}
}

// handle acts on one message; false ends the socket.
func (c *wsConn) handle(ctx context.Context, b []byte) bool {
	m, err := decodeMessage(b)
	if err != nil {
		c.s.close(closeBadRequest, err.Error())
		return false
	}
	switch m.Type {
	case "subscribe", "start":
		return c.start(ctx, m)
	case "complete", "stop":
		c.mu.Lock()
		op := c.ops[m.ID]
		c.mu.Unlock()
		if op != nil {
			op.stop()
		}
	case "ping":
		c.send(wsMessage{Type: "pong", Payload: m.Payload})
	case "pong":
	case "connection_terminate":
		return false
	case "connection_init":
		c.s.close(CloseTooMany, "Too many initialisation requests")
		return false
	default:
		c.s.close(closeBadRequest, "unexpected message "+m.Type)
		return false
	}
	return true
}

var errBadMessage = errors.New("invalid message")

func decodeMessage(b []byte) (wsMessage, error) {
	var m wsMessage
	if err := json.Unmarshal(b, &m); err != nil || m.Type == "" {
		return wsMessage{}, fmt.Errorf("%w: not a JSON message with a type", errBadMessage)
	}
	return m, nil
}

// init waits for connection_init and authenticates the socket with it.
func (c *wsConn) init(ctx context.Context) (context.Context, bool) {
	_ = c.s.conn.SetReadDeadline(time.Now().Add(c.t.initTimeout))
	_, b, err := c.s.conn.ReadMessage()
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		c.s.close(closeInitTimeout, "Connection initialisation timeout")
		return ctx, false
	}
	if err != nil {
		return ctx, false
	}
	ok := false
	shallow(func() { ctx, ok = c.initWith(ctx, b) })
	return ctx, ok
}

func (c *wsConn) initWith(ctx context.Context, b []byte) (context.Context, bool) {
	m, err := decodeMessage(b)
	switch {
	case err != nil:
		c.s.close(closeBadRequest, "decoding error")
		return ctx, false
	case m.Type == "connection_terminate":
		return ctx, false
	case m.Type != "connection_init":
		c.s.close(closeBadRequest, "expected connection_init, got "+m.Type)
		return ctx, false
	}
	_ = c.s.conn.SetReadDeadline(time.Time{})
	var payload transport.InitPayload
	if len(m.Payload) > 0 && string(m.Payload) != "null" {
		if err := json.Unmarshal(m.Payload, &payload); err != nil {
			c.s.close(closeBadRequest, "connection_init's payload is not an object")
			return ctx, false
		}
	}
	ctx, code, err := c.t.sockets.init(ctx, c.s, payload)
	if err != nil {
		if c.legacy {
			c.sendPayload("", "connection_error", &gqlerror.Error{Message: err.Error()})
		}
		c.s.close(code, closeReason(err.Error()))
		return ctx, false
	}
	c.send(wsMessage{Type: "connection_ack"})
	if c.legacy {
		c.send(wsMessage{Type: "ka"})
		c.mu.Lock()
		c.ka = time.AfterFunc(c.t.keepAlive, c.keepAliveTick)
		c.mu.Unlock()
	}
	return ctx, true
}

func (c *wsConn) keepAliveTick() {
	if c.s.closed.Load() {
		return
	}
	c.send(wsMessage{Type: "ka"})
	c.mu.Lock()
	c.ka.Reset(c.t.keepAlive)
	c.mu.Unlock()
}

// shallow runs f on a goroutine of its own and waits for it: work that goes
// deep (authentication, parsing, resolvers and SQL) grows that goroutine's
// stack, which goes with it, rather than the reader's, which the socket
// keeps for hours.
func shallow(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// closeReason fits a reason into a close frame (123 bytes).
func closeReason(s string) string {
	if len(s) > 123 {
		s = s[:120] + "..."
	}
	return s
}

// send writes a message; a socket that cannot be written to is closed.
func (c *wsConn) send(m wsMessage) {
	b, err := json.Marshal(m)
	if err == nil {
		err = c.s.write(b)
	}
	if err != nil {
		c.s.close(websocket.CloseAbnormalClosure, "write failed")
	}
}

func (c *wsConn) sendPayload(id, typ string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encoding a websocket payload", "err", err)
		return
	}
	c.send(wsMessage{ID: id, Type: typ, Payload: b})
}

func (c *wsConn) dataType() string {
	if c.legacy {
		return "data"
	}
	return "next"
}

// start begins an operation. It reports false when the socket must end (a
// protocol violation).
func (c *wsConn) start(ctx context.Context, m wsMessage) bool {
	if m.ID == "" {
		c.s.close(closeBadRequest, "subscribe without an id")
		return false
	}
	c.mu.Lock()
	if _, dup := c.ops[m.ID]; dup {
		c.mu.Unlock()
		if c.legacy {
			return true // subscriptions-transport-ws ignores it
		}
		c.s.close(closeDuplicateID, closeReason("Subscriber for "+m.ID+" already exists"))
		return false
	}
	op := &operation{c: c, id: m.ID}
	op.ctx, op.cancel = context.WithCancel(ctx)
	c.ops[m.ID] = op
	c.mu.Unlock()
	go op.run(m.Payload, graphql.Now())
	return true
}

// operation is one subscribe: a query or mutation answered once, or a
// subscription streaming until it ends or the client completes it.
type operation struct {
	c      *wsConn
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	// bound is set (on run's goroutine) when the subscription's resolver
	// attached a stream that calls ready for each value.
	bound bool
	// at is when the event being delivered was written (unix ns), for
	// the fan-out lag.
	at atomic.Int64
	// head is the start of this operation's data messages, up to their
	// payload (made by writeNext, on the drainer).
	head []byte

	mu        sync.Mutex
	responses graphql.ResponseHandler
	rctx      context.Context
	// queue holds, in order, one item per value the stream put in its
	// channel (with the shared encoding it may use, see shared.go).
	queue    []*encoding
	owns     []bool
	draining bool
	// shape keys the encodings this subscription may share (empty: none);
	// next is the encoding claimed for the value being converted, and
	// skip takes a value from the stream's channel without executing it.
	shape   string
	next    *encoding
	owner   bool
	skip    func() bool
	done    bool
	stopped bool // the client completed it: nothing more is sent
	errs    gqlerror.List
}

type operationKey struct{}

// operationFrom is the websocket operation a resolver runs in, if any.
func operationFrom(ctx context.Context) *operation {
	op, _ := ctx.Value(operationKey{}).(*operation)
	return op
}

// addSubscriptionError ends a subscription with an error message (sent
// once its stream has closed) rather than a complete.
func addSubscriptionError(ctx context.Context, err *gqlerror.Error) {
	if op := operationFrom(ctx); op != nil {
		op.mu.Lock()
		op.errs = append(op.errs, err)
		op.mu.Unlock()
	}
}

func (op *operation) run(payload json.RawMessage, start time.Time) {
	c := op.c
	defer func() {
		if r := recover(); r != nil {
			slog.ErrorContext(op.ctx, "websocket operation panicked", "panic", fmt.Sprint(r))
			op.finish(gqlerror.List{{Message: "internal server error", Extensions: map[string]any{"code": CodeInternal}}})
		}
	}()
	var params graphql.RawParams
	if err := json.Unmarshal(payload, &params); err != nil {
		op.finish(gqlerror.List{{Message: "the subscribe payload is not JSON", Extensions: map[string]any{"code": CodeBadUserInput}}})
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	// The operation context keeps the query's text while the subscription
	// lives; thousands of agents send the same few, which share one copy.
	params.Query = unique.Make(params.Query).Value()
	ctx := graphql.StartOperationTrace(op.ctx)
	rc, errs := c.exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			op.finish(resp.Errors)
			return
		}
		op.sendResponse(&graphql.Response{Errors: errs})
		op.finish(nil)
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	if rc.Operation != nil && rc.Operation.Operation == ast.Subscription {
		op.shape = shapeOf(ctx, rc)
	}
	ctx = context.WithValue(ctx, operationKey{}, op)
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	if op.bound {
		metrics.Subscriptions.Inc()
		op.mu.Lock()
		op.responses, op.rctx = responses, ctx
		op.startDrainLocked()
		op.mu.Unlock()
		return
	}
	// A query or a mutation, or a subscription refused before it streamed.
	for resp := responses(ctx); resp != nil; resp = responses(ctx) {
		op.sendResponse(resp)
		if rc.Operation.Operation != ast.Subscription {
			break
		}
	}
	op.finish(nil)
}

// ready is told by the stream that a value is in its channel, or that the
// channel closed. A drainer takes it: a goroutine that lives while values
// keep coming, executing and writing each while the stream's goroutine
// converts the next (the channel holds one, so the stream waits for a slow
// socket), and ends when there is nothing left.
func (op *operation) ready() {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.queue = append(op.queue, op.next)
	op.owns = append(op.owns, op.owner)
	op.next, op.owner = nil, false
	op.startDrainLocked()
}

func (op *operation) startDrainLocked() {
	if op.draining || op.responses == nil || len(op.queue) == 0 || op.done {
		return
	}
	op.draining = true
	goDeep(op.drain)
}

// goDeep runs f on an idle worker of a pool, or on a new goroutine when
// every worker is busy (a socket slow to write holds one: no subscription
// waits for another's client). Executing and encoding an event goes deep:
// a goroutine per event would grow its stack again every time, and at
// 50,000 deliveries/s the copying cost more than the execution; the
// pool's workers keep theirs.
func goDeep(f func()) {
	select {
	case deepJobs <- f:
	default:
		go f()
	}
}

var deepJobs = make(chan func())

// deepWorkers is the pool's size: idle, each holds its grown stack (some
// tens of KB), nothing else.
const deepWorkers = 64

func init() {
	for range deepWorkers {
		go func() {
			for f := range deepJobs {
				f()
			}
		}()
	}
}

func (op *operation) drain() {
	op.mu.Lock()
	defer op.mu.Unlock()
	for len(op.queue) > 0 && !op.done {
		enc, owns := op.queue[0], op.owns[0]
		op.queue, op.owns = op.queue[1:], op.owns[1:]
		op.mu.Unlock()
		if enc != nil && !owns {
			if payload, ok := enc.ready(); ok && op.skip() {
				op.writeNext(payload)
				op.mu.Lock()
				continue
			}
		}
		ctx, span := op.rctx, trace.Span(nil)
		if enc != nil && owns && enc.fanOut.IsValid() && tracing.On() {
			ctx, span = op.deliverSpan(enc.fanOut, enc.event)
		}
		resp := op.safely(ctx)
		var payload []byte
		if resp != nil {
			payload, _ = json.Marshal(resp)
		}
		if enc != nil && owns {
			enc.fill(payload, resp != nil && len(resp.Errors) == 0)
		}
		if span != nil {
			recordErrors(span, resp)
			span.End()
		}
		op.mu.Lock()
		if resp == nil {
			op.done = true
			metrics.Subscriptions.Dec()
			errs := op.errs
			op.failOwnedLocked()
			op.mu.Unlock()
			op.finish(errs)
			op.mu.Lock()
			break
		}
		op.mu.Unlock()
		op.writeNext(payload)
		op.mu.Lock()
	}
	op.draining = false
}

// claim takes the shared encoding of the event about to be queued, when
// the subscription has a shape to share.
func (op *operation) claim(event int64, fanOut trace.SpanContext) {
	if op.shape == "" {
		return
	}
	enc, owner := sharedEncodings.claim(op.shape, event)
	if owner {
		enc.fanOut, enc.event = fanOut, event
	}
	op.mu.Lock()
	op.next, op.owner = enc, owner
	op.mu.Unlock()
}

// messageEnd closes a data message that writeNext writes in parts.
var messageEnd = []byte("}")

// writeNext sends a value's encoded response, unless the client completed
// the subscription.
func (op *operation) writeNext(payload []byte) {
	op.mu.Lock()
	stopped := op.stopped
	op.mu.Unlock()
	if stopped || payload == nil {
		return
	}
	// The message is written in three parts rather than encoded: a fan-out
	// writes one payload to thousands of subscriptions, and encoding/json
	// would copy and validate it again for each (a tenth of the server's
	// CPU in a fan-out's profile).
	if op.head == nil {
		id, _ := json.Marshal(op.id)
		op.head = fmt.Appendf(nil, `{"id":%s,"type":%q,"payload":`, id, op.c.dataType())
	}
	if err := op.c.s.write(op.head, payload, messageEnd); err != nil {
		op.c.s.close(websocket.CloseAbnormalClosure, "write failed")
	}
	if at := op.at.Load(); at > 0 {
		metrics.FanOutLag.Observe(time.Since(time.Unix(0, at)).Seconds())
	}
}

// failOwnedLocked releases the subscribers waiting on encodings this one
// will not make: they execute their own.
func (op *operation) failOwnedLocked() {
	for i, enc := range op.queue {
		if enc != nil && op.owns[i] {
			enc.fill(nil, false)
		}
	}
	if op.next != nil && op.owner {
		op.next.fill(nil, false)
	}
	op.queue, op.owns, op.next = nil, nil, nil
}

// safely executes one value, turning a panic into the end of the stream.
func (op *operation) safely(ctx context.Context) (resp *graphql.Response) {
	defer func() {
		if r := recover(); r != nil {
			slog.ErrorContext(op.ctx, "websocket subscription panicked", "panic", fmt.Sprint(r))
			op.mu.Lock()
			op.errs = append(op.errs, &gqlerror.Error{Message: "internal server error", Extensions: map[string]any{"code": CodeInternal}})
			op.mu.Unlock()
			resp = nil
		}
	}()
	return op.responses(ctx)
}

func (op *operation) sendResponse(resp *graphql.Response) {
	op.c.sendPayload(op.id, op.c.dataType(), resp)
}

// stop is the client's complete (stop): the stream ends, and nothing more
// is sent for the id.
func (op *operation) stop() {
	op.mu.Lock()
	op.stopped = true
	op.mu.Unlock()
	op.cancel()
}

// finish ends the operation: an error message with errs, else complete
// (the legacy protocol completes after an error too), unless the client
// completed it itself.
func (op *operation) finish(errs gqlerror.List) {
	c := op.c
	c.mu.Lock()
	if c.ops[op.id] == op {
		delete(c.ops, op.id)
	}
	c.mu.Unlock()
	op.mu.Lock()
	stopped := op.stopped
	op.mu.Unlock()
	op.cancel()
	if stopped {
		return
	}
	if len(errs) > 0 {
		c.sendPayload(op.id, "error", errs)
		if !c.legacy {
			return
		}
	}
	c.send(wsMessage{ID: op.id, Type: "complete"})
}
