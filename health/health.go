// Package health owns a connection's webhook health: how many events it
// received and when the last arrived, how many were rejected or failed and
// the last error. The webhook edge, the journal and processing report to
// it; it gathers reports in memory and writes them at most every interval,
// in one transaction that also tells connectionUpdated subscribers. A flood
// of webhooks, forged or real, thus costs one write per connection per
// interval, never one per request.
package health

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
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
	samples map[sampleKey]*sample
	wake    chan struct{}
}

// Rejection is a webhook request refused at the door that names a
// connection (by its URL or its account): the log shows it with the status
// answered and why, so that "not receiving messages?" has an answer.
type Rejection struct {
	Connection pulid.ID
	Campaign   pulid.ID
	Platform   schematype.Platform
	Status     int
	Reason     string
	// Body is what was read of the request; only its first MaxRejectedBody bytes are kept.
	Body []byte
	At   time.Time
}

// MaxRejectedBody is how much of a rejected request's body the log keeps:
// enough to see what it was, too little for a flood to fill the disk.
const MaxRejectedBody = 4 << 10

// sampleKey groups rejections: a flood of one kind against one connection
// is one row per minute, whose repeats count the rest.
type sampleKey struct {
	conn   pulid.ID
	status int
	minute int64
}

type sample struct {
	first Rejection
	more  int64
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
	return &Recorder{w: w, logger: logger, every: every, pending: map[pulid.ID]*tally{}, samples: map[sampleKey]*sample{},
		wake: make(chan struct{}, 1)}
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

// Rejected records a refused request: it counts as the connection's error
// and is sampled into its webhook log (see sampleKey).
func (r *Recorder) Rejected(x Rejection) {
	if len(x.Body) > MaxRejectedBody {
		x.Body = x.Body[:MaxRejectedBody]
	}
	k := sampleKey{conn: x.Connection, status: x.Status, minute: x.At.Unix() / 60}
	r.mu.Lock()
	if s := r.samples[k]; s != nil {
		s.more++
	} else {
		x.Body = bytes.Clone(x.Body) // keep 4 KB, not the whole request's buffer
		r.samples[k] = &sample{first: x}
	}
	r.mu.Unlock()
	r.Failed(x.Connection, fmt.Sprintf("rejected a webhook (%d): %s", x.Status, x.Reason), x.At)
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
	pending, samples := r.pending, r.samples
	r.pending, r.samples = map[pulid.ID]*tally{}, map[sampleKey]*sample{}
	r.mu.Unlock()
	r.logRejections(ctx, samples)
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

// logRejected stores each sample as a journal entry already processed (it
// never enters the queue, and is never replayed: it was not verified). The
// same sample flushed again, here or by another replica, only adds to repeats.
const logRejected = `
INSERT INTO webhook_events (id, platform, connection_id, campaign_id, event_type, dedup_key, payload,
	received_at, processed_at, response_status, error, attempts, repeats)
SELECT id, platform, connection_id, campaign_id, 'rejected', dedup_key, payload,
	received_at, received_at, status, error, 0, repeats
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::timestamptz[], $8::int[], $9::text[], $10::bigint[])
	AS v(id, platform, connection_id, campaign_id, dedup_key, payload, received_at, status, error, repeats)
ON CONFLICT (connection_id, dedup_key) WHERE event_type = 'rejected' DO UPDATE SET repeats = webhook_events.repeats + EXCLUDED.repeats + 1`

func (r *Recorder) logRejections(ctx context.Context, samples map[sampleKey]*sample) {
	if len(samples) == 0 {
		return
	}
	var ids, platforms, conns, campaigns, keys, times, reasons []string
	var bodies [][]byte
	var statuses, repeats []int64
	for k, s := range samples {
		x := s.first
		ids = append(ids, string(pulid.New("whe")))
		platforms = append(platforms, string(x.Platform))
		conns = append(conns, string(x.Connection))
		campaigns = append(campaigns, string(x.Campaign))
		keys = append(keys, fmt.Sprintf("rejected:%d:%d", k.status, k.minute))
		bodies = append(bodies, x.Body)
		times = append(times, x.At.UTC().Format(time.RFC3339Nano))
		statuses = append(statuses, int64(x.Status))
		reasons = append(reasons, inbound.Text(x.Reason))
		repeats = append(repeats, s.more)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := r.w.Do(privacy.DecisionContext(ctx, privacy.Allow), func(tx *ent.Tx) ([]events.Event, error) {
		_, err := tx.ExecContext(ctx, logRejected, pq.Array(ids), pq.Array(platforms), pq.Array(conns), pq.Array(campaigns),
			pq.Array(keys), pq.ByteaArray(bodies), pq.Array(times), pq.Array(statuses), pq.Array(reasons), pq.Array(repeats))
		return nil, err
	})
	if err != nil {
		// Like the counts, the samples are a log: losing one beats blocking.
		r.logger.WarnContext(ctx, "logging rejected webhooks", "samples", len(samples), "err", err)
	}
}
