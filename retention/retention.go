// Package retention keeps the two tables that only grow from growing
// forever. The journal keeps every webhook's row and outcome (the webhook
// log shows them), but its payload, the platform's raw body with the
// customer's words in it, is emptied once WEBHOOK_RETENTION has passed and
// the event is settled. The event log behind subscriptions is trimmed of
// events older than EVENT_LOG_RETENTION, keeping at least the replay depth
// (EVENT_REPLAY_MAX): every replica's hub reads within moments of a commit,
// so days-old events are only ever read by a resuming subscriber, and one
// whose cursor was trimmed is told it is too far behind (events.Hub.Behind).
package retention

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Options say what to keep.
type Options struct {
	Webhooks    time.Duration // payloads are emptied past this age
	EventLog    time.Duration // events are deleted past this age
	ReplayDepth int           // the newest events kept whatever their age
	Batch       int           // rows per statement (default 1000): short transactions, short locks
	Logger      *slog.Logger
}

// Purger applies the retention.
type Purger struct {
	db  *sql.DB
	opt Options
}

// New returns a purger over db.
func New(db *sql.DB, opt Options) *Purger {
	if opt.Batch <= 0 {
		opt.Batch = 1000
	}
	return &Purger{db: db, opt: opt}
}

// An event still waiting to be processed keeps its payload whatever its
// age: processing needs it.
const purgePayloads = `
UPDATE webhook_events SET payload = ''::bytea
WHERE id IN (SELECT id FROM webhook_events
	WHERE received_at < $1 AND payload <> ''::bytea
		AND (processed_at IS NOT NULL OR failed_at IS NOT NULL OR skipped_at IS NOT NULL)
	LIMIT $2)`

// The log's ids grow with time, so the oldest events are the lowest ids;
// the newest ReplayDepth events stay whatever their age.
const trimLog = `
DELETE FROM domain_events
WHERE id IN (SELECT id FROM domain_events
	WHERE id <= (SELECT coalesce(max(id), 0) FROM domain_events) - $2 AND created_at < $1
	ORDER BY id LIMIT $3)`

// Once purges and trims what is due, a batch at a time, and reports how
// many payloads it emptied and events it deleted.
func (p *Purger) Once(ctx context.Context, now time.Time) (payloads, events int64, err error) {
	if payloads, err = p.loop(ctx, purgePayloads, now.Add(-p.opt.Webhooks), p.opt.Batch); err != nil {
		return payloads, 0, fmt.Errorf("emptying old webhook payloads: %w", err)
	}
	if events, err = p.loop(ctx, trimLog, now.Add(-p.opt.EventLog), p.opt.ReplayDepth, p.opt.Batch); err != nil {
		return payloads, events, fmt.Errorf("trimming the event log: %w", err)
	}
	return payloads, events, nil
}

// loop runs a batched statement until it changes nothing.
func (p *Purger) loop(ctx context.Context, q string, args ...any) (int64, error) {
	var total int64
	for ctx.Err() == nil {
		res, err := p.db.ExecContext(ctx, q, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return total, err
		}
		total += n
	}
	return total, ctx.Err()
}

// Run purges every interval (jittered, so that replicas started together
// do not purge together; two purging at once only repeat each other's
// empty work) until ctx ends.
func (p *Purger) Run(ctx context.Context, every time.Duration) {
	for {
		wait := every/2 + rand.N(every)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		payloads, events, err := p.Once(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			p.opt.Logger.WarnContext(ctx, "retention", "err", err)
		case payloads > 0 || events > 0:
			p.opt.Logger.InfoContext(ctx, "retention", "payloads_emptied", payloads, "events_deleted", events)
		}
	}
}
