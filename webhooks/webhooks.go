// Package webhooks is the HTTP edge for platforms. Every request is capped,
// verified on its raw bytes, journaled in one short transaction and only then
// acknowledged; processing happens later, from the journal (package ingest).
// Each platform's Channel knows its wire format (how it signs, what the body
// names); this package knows HTTP: routes, status codes, and what each
// answer makes the platform do. It serves every registered platform the
// same way.
package webhooks

import (
	"cmp"
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/health"
	"github.com/switchboard-chat/switchboard/httpx"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/journal"
	"github.com/switchboard-chat/switchboard/metrics"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/tracing"
)

// MaxBody is the largest webhook body accepted; platforms send far less.
const MaxBody = 1 << 20

// Health learns of rejected requests (package health), which it counts and
// samples into the connection's webhook log.
type Health interface {
	Rejected(x health.Rejection)
}

// Options configures the webhook edge.
type Options struct {
	Client      *ent.Client
	Journal     *journal.Journal
	Connections *connections.Service
	Platforms   *platform.Registry
	Health      Health
	Logger      *slog.Logger
	// Hub tells this replica of changes to connections made on others
	// (nil: only of those made here, through Connections).
	Hub *events.Hub
	// RouteCacheTTL bounds how stale a cached connection lookup may be
	// should a change to the connection be missed (default 2s).
	RouteCacheTTL time.Duration
	// MaxMisses is how many ids that name no connection are remembered
	// (default 10,000); the least recently asked are forgotten first.
	MaxMisses int
	// UnknownLookups is how many database lookups a second of ids not known
	// to name a connection each platform's unverified requests may cause
	// (default 100), with bursts of UnknownBurst (default 1,000). Requests
	// beyond are answered 429.
	UnknownLookups float64
	UnknownBurst   int
}

// Handler serves /webhooks/....
type Handler struct {
	opt    Options
	router *router
	log    *slog.Logger
	// limitedLog keeps a flood of made-up ids from flooding the log too.
	limitedLog rate.Sometimes
	// following is closed once Run follows the event log (at once without
	// a Hub): only from then on are cached routes dropped when changed elsewhere.
	following chan struct{}
	follow    sync.Once
}

// counters are exported at /debug/vars: outcomes per platform.
var counters = expvar.NewMap("webhooks")

// New returns the webhook edge.
func New(opt Options) *Handler {
	if opt.RouteCacheTTL == 0 {
		opt.RouteCacheTTL = 2 * time.Second
	}
	if opt.MaxMisses <= 0 {
		opt.MaxMisses = 10000
	}
	if opt.UnknownLookups <= 0 {
		opt.UnknownLookups = 100
	}
	if opt.UnknownBurst <= 0 {
		opt.UnknownBurst = 1000
	}
	limit := func() *rate.Limiter { return rate.NewLimiter(rate.Limit(opt.UnknownLookups), opt.UnknownBurst) }
	h := &Handler{opt: opt, router: newRouter(opt.Client, opt.Connections, opt.RouteCacheTTL, opt.MaxMisses, limit),
		log: opt.Logger, limitedLog: rate.Sometimes{Interval: 10 * time.Second}, following: make(chan struct{})}
	if opt.Connections != nil {
		opt.Connections.OnChange(h.router.forget)
	}
	if opt.Hub == nil {
		close(h.following)
	}
	return h
}

// Run follows the changes to connections in the event log until ctx ends,
// dropping the routes they make stale, so that a disconnect made on another
// replica is refused here at once too.
func (h *Handler) Run(ctx context.Context) {
	if h.opt.Hub == nil {
		return
	}
	for ctx.Err() == nil {
		ds, err := h.opt.Hub.Subscribe(ctx, events.Spec{AllCampaigns: true, Types: []events.Type{events.ConnectionUpdated}})
		if err != nil {
			return // ctx ended before the hub started
		}
		// What changed before the subscription began is not in it.
		h.router.reset()
		h.follow.Do(func() { close(h.following) })
		for d := range ds {
			if d.Connection != nil {
				h.router.observe(d.Connection)
			}
		}
		if ctx.Err() == nil {
			// The hub could not read the log: whatever it missed, the reset
			// of the next subscription covers.
			h.log.WarnContext(ctx, "following connection changes stopped; following again")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// Register mounts the endpoints platforms are given: each channel's webhook
// path, the app-wide one where the body names the account, and the
// subscription handshake where the platform has one.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, ch := range h.opt.Platforms.All() {
		path := ch.WebhookPath("{id}")
		mux.HandleFunc("POST "+path, h.receive(ch))
		if base, ok := strings.CutSuffix(path, "/{id}"); ok {
			if _, routed := ch.(platform.AccountRouted); routed {
				mux.HandleFunc("POST "+base, h.receive(ch))
			}
		}
		if hs, ok := ch.(platform.AppSigned); ok {
			mux.HandleFunc("GET "+path, h.handshake(ch.Platform(), hs))
		}
	}
}

// handshake answers the subscription check with the raw challenge, as text
// so that a caller who knows the token still cannot reflect markup through us.
func (h *Handler) handshake(p schematype.Platform, hs platform.AppSigned) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		challenge, ok := hs.Handshake(r.URL.Query())
		if !ok {
			h.reject(w, r, p, nil, nil, http.StatusForbidden, "wrong or missing hub.verify_token")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, challenge)
	}
}

// receive handles a platform's webhook. How the request is routed follows
// from how the platform signs:
//   - a URL that names the connection, verified with the connection's own
//     secret (Telegram): an unknown id is 404 and a disconnected one 410
//     (Telegram closes a webhook that answers 410 for a day);
//   - one URL per app, signed with the app secret (Meta, platform.AppSigned):
//     verified first, then each event routed by the account it names; events
//     of accounts not connected are journaled as unroutable and answered 200,
//     since anything else makes Meta retry and, in time, unsubscribe the app;
//   - one URL per app, signed per account (Zalo, platform.AccountRouted): the
//     body is peeked for the account, whose key verifies it, whatever
//     connection the path names (the app has one URL for all its accounts);
//     events of an account not connected are answered 200 and dropped, since
//     they cannot be verified and so must not be stored.
//
// Ids read before anything is verified (the URL's, the peeked account) that
// are not known to name a connection are looked up at a bounded rate: beyond
// it the answer is 429, which the platform retries.
func (h *Handler) receive(ch platform.Channel) http.HandlerFunc {
	p := ch.Platform()
	appSigned, isAppSigned := ch.(platform.AppSigned)
	peeker, isRouted := ch.(platform.AccountRouted)
	guard, isGuarded := ch.(replayGuard)
	received, took := metrics.WebhooksReceived.WithLabelValues(string(p)), metrics.AckSeconds.WithLabelValues(string(p))
	serve := func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		received.Inc()
		defer func() { took.Observe(time.Since(start).Seconds()) }()
		var conn *route
		switch id := r.PathValue("id"); {
		case isRouted:
			// The body's account routes, below: the path may name any of
			// the app's accounts, or none.
		case id != "":
			c, err := h.router.connection(r.Context(), p, id)
			switch {
			case err != nil:
				h.unavailable(w, r, p, err)
				return
			case c == nil || c.platform != p:
				h.reject(w, r, p, nil, nil, http.StatusNotFound, "no such "+ch.Title()+" connection")
				return
			case !c.live:
				// Its log shows that the platform still delivers to it.
				h.reject(w, r, p, c, head(r), http.StatusGone, "connection disconnected")
				return
			}
			conn = c
		case !isAppSigned:
			h.reject(w, r, p, nil, nil, http.StatusNotFound, "no such "+ch.Title()+" connection")
			return
		}
		body, status, reason := readBody(w, r)
		if status != 0 {
			h.reject(w, r, p, conn, body, status, reason)
			return
		}
		key := ""
		switch {
		case isAppSigned:
			key = appSigned.AppSecret()
		case isRouted:
			acct, err := peeker.Peek(body)
			if err != nil {
				h.reject(w, r, p, nil, body, http.StatusBadRequest, err.Error())
				return
			}
			if conn, err = h.router.account(r.Context(), p, acct, true); err != nil {
				h.unavailable(w, r, p, err)
				return
			}
			if conn == nil || !conn.live {
				counters.Add(string(p)+".unconnected", 1)
				h.log.WarnContext(r.Context(), "webhook for an account that is not connected; dropped", "platform", p, "account", acct)
				w.WriteHeader(http.StatusOK)
				return
			}
			key = conn.key
		default:
			key = conn.key
		}
		if err := ch.Verify(r.Header, body, key); err != nil {
			h.reject(w, r, p, conn, body, http.StatusUnauthorized, err.Error())
			return
		}
		if isGuarded && conn != nil {
			if err := guard.VerifyApp(body, conn.creds); err != nil {
				h.reject(w, r, p, conn, body, http.StatusUnauthorized, err.Error())
				return
			}
			if err := guard.CheckAge(body); err != nil {
				// Retrying never makes an event younger.
				h.reject(w, r, p, conn, body, http.StatusBadRequest, err.Error())
				return
			}
		}
		frags, err := ch.Split(body)
		if err != nil {
			h.reject(w, r, p, conn, body, http.StatusBadRequest, err.Error())
			return
		}
		var all []journal.Entry
		if conn != nil {
			all = entries(p, conn, frags, "")
		} else {
			var ok bool
			if all, ok = h.route(w, r, p, frags); !ok {
				return
			}
		}
		h.store(w, r, p, all, body, ch.Ack())
	}
	name := "webhook " + strings.ToLower(string(p))
	return func(w http.ResponseWriter, r *http.Request) {
		if tracing.On() {
			traced(w, r, name, p, serve)
			return
		}
		serve(w, r)
	}
}

// traced serves a webhook in a server span, the root of the trace that its
// journal row carries on to processing and fan-out (or a child of the
// sender's, when its request names one in traceparent).
func traced(w http.ResponseWriter, r *http.Request, name string, p schematype.Platform, serve http.HandlerFunc) {
	_, route, _ := strings.Cut(r.Pattern, " ")
	ctx, span := tracing.Start(tracing.FromRequest(r), name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("platform", string(p)), semconv.HTTPRequestMethodKey.String(r.Method), semconv.HTTPRoute(route)))
	defer span.End()
	sw := &httpx.StatusWriter{ResponseWriter: w}
	serve(sw, r.WithContext(ctx))
	status := cmp.Or(sw.Status, http.StatusOK) // nothing written is an empty 200
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	// A refusal is the sender's mistake, not a failure of ours (a 4xx
	// leaves a server span's status unset).
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// traceConnections names, on a traced request's span, the connections its
// events were for (several only when an app-wide webhook carried events of
// several accounts).
func traceConnections(ctx context.Context, ids []pulid.ID) {
	var names []string
	for _, id := range ids {
		if id != "" && !slices.Contains(names, string(id)) {
			names = append(names, string(id))
		}
	}
	if len(names) > 0 {
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("connection.id", strings.Join(names, ",")))
	}
}

// replayGuard is a platform whose correctly signed events can still be
// replays (Zalo: every app an OA has used signs with the OA's one key, and
// the timestamp is signed but never checked by the platform).
type replayGuard interface {
	// VerifyApp checks that a verified body was sent for the account's app.
	VerifyApp(body []byte, creds platform.Credentials) error
	// CheckAge refuses an event older than the platform ever retries.
	CheckAge(body []byte) error
}

// route journals each fragment for the connection of the account it names;
// fragments of several accounts may come in one request.
func (h *Handler) route(w http.ResponseWriter, r *http.Request, p schematype.Platform, frags []inbound.Fragment) ([]journal.Entry, bool) {
	var all []journal.Entry
	byAccount := map[string][]inbound.Fragment{}
	var order []string
	for _, f := range frags {
		if _, seen := byAccount[f.Account]; !seen {
			order = append(order, f.Account)
		}
		byAccount[f.Account] = append(byAccount[f.Account], f)
	}
	for _, acct := range order {
		conn, err := h.router.account(r.Context(), p, acct, false)
		if err != nil {
			h.unavailable(w, r, p, err)
			return nil, false
		}
		if conn == nil {
			counters.Add(string(p)+".unroutable", 1)
			h.log.WarnContext(r.Context(), "webhook for an account that is not connected", "platform", p, "account", acct)
		}
		all = append(all, entries(p, conn, byAccount[acct], "unroutable: account "+acct+" is not connected")...)
	}
	return all, true
}

// readBody reads at most MaxBody bytes. A larger body is a 413 and an
// unreadable one a 400 (status not 0), with what was read, for the log.
func readBody(w http.ResponseWriter, r *http.Request) (body []byte, status int, reason string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return body, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", MaxBody)
		}
		return body, http.StatusBadRequest, "reading the request body: " + err.Error()
	}
	return body, 0, ""
}

// head reads the start of a body that is refused before it is read, for the log.
func head(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, health.MaxRejectedBody))
	return b
}

// reject answers a request that is not accepted, counts it and logs why
// (never with the body or secrets). When the request is attributable to a
// connection, its webhook log and health show it (sampled: see package health).
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, p schematype.Platform, conn *route, body []byte, status int, reason string) {
	var to []*route
	if conn != nil {
		to = append(to, conn)
	}
	h.refuse(w, r, p, to, body, status, reason)
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, p schematype.Platform, to []*route, body []byte, status int, reason string) {
	counters.Add(fmt.Sprintf("%s.rejected.%d", p, status), 1)
	metrics.WebhooksRejected.WithLabelValues(string(p), metrics.Reason(status)).Inc()
	attrs := []any{"platform", p, "status", status, "reason", reason, "remote", r.RemoteAddr}
	now := time.Now()
	if tracing.On() {
		ids := make([]pulid.ID, len(to))
		for i, c := range to {
			ids[i] = c.id
		}
		traceConnections(r.Context(), ids)
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("webhook.rejected", reason))
	}
	for _, c := range to {
		attrs = append(attrs, "connection", c.id)
		h.opt.Health.Rejected(health.Rejection{Connection: c.id, Campaign: c.campaignID, Platform: p, Status: status,
			Reason: reason, Body: body, At: now})
	}
	h.log.WarnContext(r.Context(), "webhook rejected", attrs...)
	http.Error(w, http.StatusText(status), status)
}

// unavailable answers 503 when the database cannot be asked who a webhook is
// for, and 429 when a flood of unknown ids may not ask it now.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, p schematype.Platform, err error) {
	var flood *errFlood
	if errors.As(err, &flood) {
		counters.Add(fmt.Sprintf("%s.rejected.%d", p, http.StatusTooManyRequests), 1)
		metrics.WebhooksRejected.WithLabelValues(string(p), metrics.ReasonRateLimited).Inc()
		h.limitedLog.Do(func() {
			h.log.WarnContext(r.Context(), "webhooks for unknown connections beyond the lookup rate; answering 429 (logged once every 10s)",
				"platform", p, "remote", r.RemoteAddr)
		})
		w.Header().Set("Retry-After", retryAfter(flood.retryAfter))
		http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
		return
	}
	counters.Add(string(p)+".unavailable", 1)
	metrics.WebhooksRejected.WithLabelValues(string(p), metrics.ReasonUnavailable).Inc()
	h.log.ErrorContext(r.Context(), "looking up a webhook's connection; answering 503", "platform", p, "err", err)
	w.Header().Set("Retry-After", "5")
	http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
}

// store journals the entries and answers: 200 once committed, 503 when the
// journal cannot commit (the platform retries; nothing was acknowledged),
// 400 when the database refuses the request's own data.
func (h *Handler) store(w http.ResponseWriter, r *http.Request, p schematype.Platform, entries []journal.Entry, body []byte, ok string) {
	if tracing.On() {
		ids := make([]pulid.ID, len(entries))
		for i, e := range entries {
			ids[i] = e.ConnectionID
		}
		traceConnections(r.Context(), ids)
	}
	if len(entries) > 0 {
		res, err := h.opt.Journal.Append(r.Context(), entries)
		if errors.Is(err, journal.ErrUnstorable) {
			// Storing it again would fail again: 400 tells the platform not to retry.
			var to []*route
			seen := map[pulid.ID]bool{}
			for _, e := range entries {
				if e.ConnectionID != "" && !seen[e.ConnectionID] {
					seen[e.ConnectionID] = true
					to = append(to, &route{id: e.ConnectionID, campaignID: e.CampaignID})
				}
			}
			h.refuse(w, r, p, to, body, http.StatusBadRequest, err.Error())
			return
		}
		if err != nil {
			counters.Add(string(p)+".unavailable", 1)
			metrics.WebhooksRejected.WithLabelValues(string(p), metrics.ReasonUnavailable).Inc()
			h.log.ErrorContext(r.Context(), "webhook not journaled; answering 503", "platform", p, "err", err)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		for _, x := range res {
			if x.Duplicate {
				counters.Add(string(p)+".duplicate", 1)
				metrics.WebhookEvents.WithLabelValues(string(p), "duplicate").Inc()
			} else {
				counters.Add(string(p)+".journaled", 1)
				metrics.WebhookEvents.WithLabelValues(string(p), "journaled").Inc()
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, ok)
}

// entries turns an adapter's fragments into journal entries for one connection
// (conn nil: the account is not connected; journaled as unroutable).
func entries(p schematype.Platform, conn *route, frags []inbound.Fragment, note string) []journal.Entry {
	out := make([]journal.Entry, 0, len(frags))
	for _, f := range frags {
		e := journal.Entry{Platform: p, Account: f.Account, EventType: f.Type, DedupKey: f.DedupKey, Thread: f.Thread, Payload: f.Raw}
		if conn != nil {
			e.ConnectionID, e.CampaignID, e.Account = conn.id, conn.campaignID, conn.externalID
		} else {
			e.Note = note
		}
		out = append(out, e)
	}
	return out
}
