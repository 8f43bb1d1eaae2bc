// Package health owns a connection's webhook health: how many events it
// received and when the last arrived, how many were rejected or failed and
// the last error. The webhook edge, the journal and processing report to
// it; it gathers reports in memory and writes them at most every interval,
// in one transaction that also tells connectionUpdated subscribers. A flood
// of webhooks, forged or real, thus costs one write per connection per
// interval, never one per request.
package health

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/inbound"
)

// Recorder gathers and writes webhook health.
type Recorder struct {
	w      *events.Writer
	logger *slog.Logger
	every  time.Duration

	mu      sync.Mutex
	pending map[pulid.ID]*tally
	wake    chan struct{}
}

type tally struct {
	received     int64
	lastReceived time.Time
	errors       int64
	lastError    string
	lastErrorAt  time.Time
}

// New returns a recorder that writes through w at most every interval.
func New(w *events.Writer, logger *slog.Logger, every time.Duration) *Recorder {
	return &Recorder{w: w, logger: logger, every: every, pending: map[pulid.ID]*tally{}, wake: make(chan struct{}, 1)}
}

func (r *Recorder) tally(id pulid.ID) *tally {
	t := r.pending[id]
	if t == nil {
		t = &tally{}
		r.pending[id] = t
	}
	return t
}

// Received counts events of a connection that arrived at at.
func (r *Recorder) Received(id pulid.ID, n int, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tally(id)
	t.received += int64(n)
	if at.After(t.lastReceived) {
		t.lastReceived = at
	}
}

// Failed counts a rejected request or a failed event of a connection.
func (r *Recorder) Failed(id pulid.ID, msg string, at time.Time) {
	r.mu.Lock()
	t := r.tally(id)
	t.errors++
	if !at.Before(t.lastErrorAt) {
		t.lastError, t.lastErrorAt = msg, at
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run writes what was reported, every interval, until ctx ends; then once more.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
		case <-r.wake:
			// Errors are worth showing soon, but still once per interval.
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
		r.Flush(ctx)
	}
}

const update = `
UPDATE connections c SET
	webhook_total_received = c.webhook_total_received + v.received,
	webhook_last_received_at = CASE WHEN v.last_received IS NULL THEN c.webhook_last_received_at
		ELSE GREATEST(COALESCE(c.webhook_last_received_at, v.last_received), v.last_received) END,
	webhook_error_count = c.webhook_error_count + v.errors,
	webhook_last_error = CASE WHEN v.last_error_at IS NULL THEN c.webhook_last_error ELSE v.last_error END,
	webhook_last_error_at = CASE WHEN v.last_error_at IS NULL THEN c.webhook_last_error_at ELSE v.last_error_at END,
	updated_at = now()
FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::text[], $6::timestamptz[])
	AS u(id, received, last_received, errors, last_error, last_error_at) ORDER BY id) v
WHERE c.id = v.id
RETURNING c.id, c.campaign_id`

// Flush writes what was reported since the last flush, in connection order
// so replicas never deadlock on each other.
func (r *Recorder) Flush(ctx context.Context) {
	r.mu.Lock()
	pending := r.pending
	r.pending = map[pulid.ID]*tally{}
	r.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, string(id))
	}
	sort.Strings(ids)
	received, errs := make([]int64, len(ids)), make([]int64, len(ids))
	lastReceived, lastError, lastErrorAt := make([]*string, len(ids)), make([]string, len(ids)), make([]*string, len(ids))
	stamp := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		s := t.UTC().Format(time.RFC3339Nano)
		return &s
	}
	for i, id := range ids {
		t := pending[pulid.ID(id)]
		received[i], errs[i], lastError[i] = t.received, t.errors, inbound.Text(t.lastError)
		lastReceived[i], lastErrorAt[i] = stamp(t.lastReceived), stamp(t.lastErrorAt)
	}
	ctx, cancel := context.WithTimeout(privacy.DecisionContext(ctx, privacy.Allow), 5*time.Second)
	defer cancel()
	err := r.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		rows, err := tx.QueryContext(ctx, update, pq.Array(ids), pq.Array(received), pq.Array(lastReceived),
			pq.Array(errs), pq.Array(lastError), pq.Array(lastErrorAt))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var evs []events.Event
		for rows.Next() {
			var id, campaign string
			if err := rows.Scan(&id, &campaign); err != nil {
				return nil, err
			}
			evs = append(evs, events.Event{Type: events.ConnectionUpdated, CampaignID: pulid.ID(campaign), EntityID: pulid.ID(id)})
		}
		return evs, rows.Err()
	})
	if err != nil {
		// The counts are statistics: losing one flush beats blocking ingest.
		r.logger.WarnContext(ctx, "writing webhook health", "connections", len(ids), "err", err)
	}
}
