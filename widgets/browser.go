package widgets

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/httpx"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// maxEvent bounds a browser event's body: {userID, action} is a few dozen bytes.
const maxEvent = 4 << 10

// maxUserID bounds the user id a page reports (Zalo's are 19 digits).
const maxUserID = 128

// Browser serves POST /widgets/zalo/{connectionID}/events, where the page's
// widget callback reports {userID, action}. Anyone can call it, so it trusts
// nothing it is told: it only counts, per action. Each client network has a
// request budget, spent before the database is asked anything; CORS is
// granted to the widget's allowedOrigins only (not ALLOWED_ORIGINS, which is
// for the SPA), and a request from any other origin is refused.
type Browser struct {
	svc     *Service
	limit   *httpx.ClientLimiter
	trusted []*net.IPNet
	log     *slog.Logger
}

// NewBrowser returns the endpoint; perSecond and burst are each client
// network's budget (WIDGET_RATE_LIMIT, WIDGET_RATE_BURST), trusted the
// proxies whose X-Forwarded-For names the client (TRUSTED_PROXIES).
func NewBrowser(svc *Service, perSecond float64, burst int, trusted []*net.IPNet, logger *slog.Logger) *Browser {
	return &Browser{svc: svc, limit: httpx.NewClientLimiter(perSecond, burst), trusted: trusted, log: logger}
}

// Register mounts the endpoint and its CORS preflight. The mux must not
// wrap them in the SPA's CORS.
func (b *Browser) Register(mux *http.ServeMux) {
	path := EventsPath("{connectionID}")
	mux.HandleFunc("POST "+path, b.event)
	mux.HandleFunc("OPTIONS "+path, b.preflight)
}

// browserEvent is what the page's callback posts. Any content type is taken,
// so a page may post with navigator.sendBeacon or as text/plain, which
// browsers send without a preflight.
type browserEvent struct {
	UserID *string `json:"userID"`
	Action string  `json:"action"`
}

func (b *Browser) event(w http.ResponseWriter, r *http.Request) {
	c, ok := b.admit(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEvent))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			b.fail(w, r, http.StatusRequestEntityTooLarge, "the body must be at most %d bytes", maxEvent)
		} else {
			b.fail(w, r, http.StatusBadRequest, "reading the body failed")
		}
		return
	}
	var ev browserEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		b.fail(w, r, http.StatusBadRequest, `the body must be a JSON object {"userID": "...", "action": "..."}`)
		return
	}
	if !zalo.IsWidgetAction(ev.Action) {
		b.fail(w, r, http.StatusBadRequest, "unknown action %q: want one of %s", ev.Action, strings.Join(zalo.WidgetActions, ", "))
		return
	}
	if ev.UserID != nil && len(*ev.UserID) > maxUserID {
		b.fail(w, r, http.StatusBadRequest, "userID must be at most %d characters", maxUserID)
		return
	}
	if err := b.svc.record(r.Context(), c, ev.Action); err != nil {
		b.log.ErrorContext(r.Context(), "counting a widget event", "connection", c.ID, "err", err)
		w.Header().Set("Retry-After", "5")
		b.fail(w, r, http.StatusServiceUnavailable, "the event could not be counted; try again later")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// preflight answers the browser's CORS check before a JSON post.
func (b *Browser) preflight(w http.ResponseWriter, r *http.Request) {
	if _, ok := b.admit(w, r); !ok {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// admit lets a request through the rate limit, to a live Zalo connection,
// from one of its widget's origins, and grants that origin CORS; otherwise
// it answers and returns false.
func (b *Browser) admit(w http.ResponseWriter, r *http.Request) (*ent.Connection, bool) {
	ctx := r.Context()
	if wait := b.limit.Wait(httpx.ClientAddr(r, b.trusted), time.Now()); wait > 0 {
		slow := &apperr.ErrTooManyRequests{RetryAfter: wait}
		w.Header().Set("Retry-After", strconv.Itoa(slow.RetryAfterSeconds()))
		b.fail(w, r, http.StatusTooManyRequests, "too many widget events from your address: slow down")
		return nil, false
	}
	id := r.PathValue("connectionID")
	if !strings.HasPrefix(id, "con_") {
		b.fail(w, r, http.StatusNotFound, "no such Zalo connection")
		return nil, false
	}
	c, err := b.svc.client.Connection.Get(system(ctx), pulid.ID(id))
	switch {
	case ent.IsNotFound(err) || err == nil && c.Platform != schematype.PlatformZalo:
		b.fail(w, r, http.StatusNotFound, "no such Zalo connection")
		return nil, false
	case err != nil:
		b.log.ErrorContext(ctx, "looking up a widget's connection", "connection", id, "err", err)
		w.Header().Set("Retry-After", "5")
		b.fail(w, r, http.StatusServiceUnavailable, "temporarily unavailable")
		return nil, false
	case c.Status == connection.StatusINACTIVE:
		b.fail(w, r, http.StatusGone, "the Zalo connection was disconnected")
		return nil, false
	}
	origin := r.Header.Get("Origin")
	if !originAllowed(c.Widget.AllowedOrigins, origin) {
		b.fail(w, r, http.StatusForbidden, "origin %q may not report this widget's events: add it to the widget's allowedOrigins", origin)
		return nil, false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	return c, true
}

// originAllowed reports whether a request's Origin is one of the allowed,
// which are stored normalised. No Origin (not a browser) is no allowed one.
func originAllowed(allowed []string, origin string) bool {
	if origin == "" {
		return false
	}
	norm, err := NormalizeOrigin(origin)
	if err != nil {
		return false
	}
	for _, a := range allowed {
		if a == norm {
			return true
		}
	}
	return false
}

// fail answers with {"error": message}. Refusals are logged at debug only:
// this endpoint is public, and a flood of them must not flood the log.
func (b *Browser) fail(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if status < 500 {
		b.log.DebugContext(r.Context(), "widget event refused", "status", status, "reason", msg, "path", r.URL.Path)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
