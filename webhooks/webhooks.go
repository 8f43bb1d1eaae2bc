// Package webhooks is the HTTP edge for platforms. Every request is capped,
// verified on its raw bytes, journaled in one short transaction and only then
// acknowledged; processing happens later, from the journal (package ingest).
// The platform adapters (package platform/...) know each wire format; this
// package knows HTTP: routes, status codes, and what each answer makes the
// platform do.
package webhooks

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/journal"
)

// MaxBody is the largest webhook body accepted; platforms send far less.
const MaxBody = 1 << 20

// Options configures the webhook edge.
type Options struct {
	Client      *ent.Client
	Journal     *journal.Journal
	Connections *connections.Service
	Logger      *slog.Logger
	// Meta app secrets sign Messenger and WhatsApp webhooks; verify tokens
	// answer their subscription handshakes.
	FacebookAppSecret, FacebookVerifyToken string
	WhatsAppAppSecret, WhatsAppVerifyToken string
	// RouteCacheTTL bounds how stale a cached connection lookup may be (default 2s).
	RouteCacheTTL time.Duration
}

// Handler serves /webhooks/....
type Handler struct {
	opt    Options
	router *router
	log    *slog.Logger

	errMu      sync.Mutex
	errPending map[pulid.ID]*pendingErrors
}

// counters are exported at /debug/vars: outcomes per platform.
var counters = expvar.NewMap("webhooks")

// New returns the webhook edge.
func New(opt Options) *Handler {
	if opt.RouteCacheTTL == 0 {
		opt.RouteCacheTTL = 2 * time.Second
	}
	return &Handler{opt: opt, router: newRouter(opt.Client, opt.Connections, opt.RouteCacheTTL), log: opt.Logger,
		errPending: map[pulid.ID]*pendingErrors{}}
}

// Register mounts the endpoints platforms are given.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /webhooks/telegram/{id}", h.telegram)
	mux.HandleFunc("GET /webhooks/facebook", h.metaChallenge(schematype.PlatformFacebook))
	mux.HandleFunc("POST /webhooks/facebook", h.meta(schematype.PlatformFacebook))
	mux.HandleFunc("GET /webhooks/whatsapp", h.metaChallenge(schematype.PlatformWhatsApp))
	mux.HandleFunc("POST /webhooks/whatsapp", h.meta(schematype.PlatformWhatsApp))
	mux.HandleFunc("POST /webhooks/zalo", h.zalo)
	mux.HandleFunc("POST /webhooks/zalo/{id}", h.zalo)
}

// readBody reads at most MaxBody bytes; a larger body is a 413.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "reading request body", http.StatusBadRequest)
		}
		return nil, false
	}
	return body, true
}

// reject answers a request that is not accepted, counts it and logs why
// (never with the body or secrets). When the request is attributable to a
// connection, its webhook error count and last error go up too.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, p schematype.Platform, conn *route, status int, reason string) {
	counters.Add(fmt.Sprintf("%s.rejected.%d", p, status), 1)
	attrs := []any{"platform", p, "status", status, "reason", reason, "remote", r.RemoteAddr}
	if conn != nil {
		attrs = append(attrs, "connection", conn.id)
		h.countError(r.Context(), conn.id, fmt.Sprintf("rejected a webhook (%d): %s", status, reason))
	}
	h.log.WarnContext(r.Context(), "webhook rejected", attrs...)
	http.Error(w, http.StatusText(status), status)
}

// countError raises a connection's webhook error count and last error. A
// flood of forged requests must not become a flood of writes: each
// connection is written at most once a second, later errors of the window
// folded into one delayed write.
func (h *Handler) countError(ctx context.Context, id pulid.ID, msg string) {
	h.errMu.Lock()
	defer h.errMu.Unlock()
	p := h.errPending[id]
	if p == nil {
		p = &pendingErrors{}
		h.errPending[id] = p
	}
	p.n++
	p.msg, p.at = msg, time.Now()
	if p.scheduled {
		return
	}
	p.scheduled = true
	delay := time.Until(p.written.Add(time.Second))
	time.AfterFunc(max(delay, 0), func() { h.flushErrors(context.WithoutCancel(ctx), id) })
}

type pendingErrors struct {
	n         int64
	msg       string
	at        time.Time
	written   time.Time
	scheduled bool
}

func (h *Handler) flushErrors(ctx context.Context, id pulid.ID) {
	h.errMu.Lock()
	p := h.errPending[id]
	n, msg, at := p.n, p.msg, p.at
	p.n, p.scheduled, p.written = 0, false, time.Now()
	h.errMu.Unlock()
	err := h.opt.Client.Connection.UpdateOneID(id).
		AddWebhookErrorCount(n).
		SetWebhookLastError(msg).
		SetWebhookLastErrorAt(at).
		Exec(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		h.log.WarnContext(ctx, "counting webhook errors", "connection", id, "errors", n, "err", err)
	}
}

// unavailable answers 503 when the database cannot be asked who a webhook is for.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, p schematype.Platform, err error) {
	counters.Add(string(p)+".unavailable", 1)
	h.log.ErrorContext(r.Context(), "looking up a webhook's connection; answering 503", "platform", p, "err", err)
	w.Header().Set("Retry-After", "5")
	http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
}

// store journals the entries and answers: 200 once committed, 503 when the
// journal cannot commit (the platform retries; nothing was acknowledged),
// 400 when the database refuses the request's own data.
func (h *Handler) store(w http.ResponseWriter, r *http.Request, p schematype.Platform, entries []journal.Entry, ok string) {
	if len(entries) > 0 {
		res, err := h.opt.Journal.Append(r.Context(), entries)
		if errors.Is(err, journal.ErrUnstorable) {
			// Storing it again would fail again: 400 tells the platform not to retry.
			h.reject(w, r, p, nil, http.StatusBadRequest, err.Error())
			seen := map[pulid.ID]bool{}
			for _, e := range entries {
				if e.ConnectionID != "" && !seen[e.ConnectionID] {
					seen[e.ConnectionID] = true
					h.countError(r.Context(), e.ConnectionID, fmt.Sprintf("rejected a webhook (400): %v", err))
				}
			}
			return
		}
		if err != nil {
			counters.Add(string(p)+".unavailable", 1)
			h.log.ErrorContext(r.Context(), "webhook not journaled; answering 503", "platform", p, "err", err)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		for _, x := range res {
			if x.Duplicate {
				counters.Add(string(p)+".duplicate", 1)
			} else {
				counters.Add(string(p)+".journaled", 1)
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
		e := journal.Entry{Platform: p, EventType: f.Type, DedupKey: f.DedupKey, Payload: f.Raw}
		if conn != nil {
			e.ConnectionID, e.CampaignID = conn.id, conn.campaignID
		} else {
			e.Note = note
		}
		out = append(out, e)
	}
	return out
}
