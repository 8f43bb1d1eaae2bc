// Package ingest turns journaled webhook events into contacts, conversations
// and messages, exactly once, and publishes what changed. Workers claim
// lanes of the journal (each customer's events queue in one; see lanes) and
// their rows with FOR UPDATE SKIP LOCKED, so any number of them, in any
// number of replicas, share the backlog and apply each customer's events in
// order. Each event is applied and marked processed in one transaction, so
// a crash replays it and the unique keys make the replay a no-op. Whatever
// one event does, the queue moves on: each event is applied in a
// savepoint, and one that fails is retried with backoff if it can cure
// itself (it waits for another event) or failed at once if it cannot (it
// does not decode), its error shown in the journal.
package ingest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/predicate"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/internal/prepared"
	"github.com/switchboard-chat/switchboard/metrics"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/tracing"
)

// Processor applies journaled events.
type Processor struct {
	client   *ent.Client
	reg      *platform.Registry
	w        *events.Writer
	health   Health
	profiles ProfileWanter
	accounts Accounts
	answers  chan answer // nil: no one answers (see AnswerThrough)
	logger   *slog.Logger
	wake     chan struct{}
	now      func() time.Time
	claims   atomic.Int64
}

// Claims counts the batches workers have tried to claim: one per batch
// applied, plus one per wake-up or poll that found nothing.
func (p *Processor) Claims() int64 { return p.claims.Load() }

// Health learns of events that failed (package health).
type Health interface {
	Failed(id pulid.ID, msg string, at time.Time)
}

// New returns a processor that decodes with the platforms' channels and
// appends what changed through w.
func New(client *ent.Client, reg *platform.Registry, w *events.Writer, health Health, logger *slog.Logger) *Processor {
	return &Processor{client: client, reg: reg, w: w, health: health, logger: logger, wake: make(chan struct{}, 1), now: time.Now}
}

// ProfileWanter fetches customers' names the webhook did not carry, later.
type ProfileWanter interface {
	WantProfile(contactID, connectionID pulid.ID)
}

// FetchProfiles has contacts that arrive without a name looked up.
func (p *Processor) FetchProfiles(w ProfileWanter) { p.profiles = w }

// source is the connection an event came by, as its journal row names it:
// all that applying the event needs of the connection (whose campaign and
// platform never change), without loading connections for every batch. A
// connection deleted meanwhile takes its events out of the queue (their
// connection_id is set NULL); an event that races the deletion fails on the
// foreign keys, as it must.
type source struct {
	ID         pulid.ID
	CampaignID pulid.ID
	Platform   schematype.Platform
	// Holds is the account the connection holds now. It is loaded only
	// for events journaled before events recorded their account, and
	// stands in for theirs.
	Holds string
}

// batch is what one transaction's events share: the connections they came
// by, and contacts whose profile to fetch and interactions to answer
// once it commits.
type batch struct {
	conns   map[pulid.ID]*source
	wants   []profileWant
	answers []answer
	applied []time.Time // when each event applied arrived, for the lag metric
	// spans are the traced events' processing spans (nil: none is traced).
	spans map[pulid.ID]*eventSpan
}

// profileWant is a contact to look up, through the connection it came by.
type profileWant struct{ contact, connection pulid.ID }

func newBatch() *batch { return &batch{conns: map[pulid.ID]*source{}} }

// fetchesProfiles reports whether the platform's API gives the names and
// avatars its webhooks may lack.
func (p *Processor) fetchesProfiles(name string) bool {
	ch, err := p.reg.Get(schematype.Platform(name))
	if err != nil {
		return false
	}
	_, ok := ch.(platform.ProfileFetcher)
	return ok
}

func (p *Processor) committed(ctx context.Context, b *batch) {
	now := time.Now()
	for _, at := range b.applied {
		metrics.ProcessingLag.Observe(now.Sub(at).Seconds())
	}
	metrics.EventsProcessed.WithLabelValues("applied").Add(float64(len(b.applied)))
	if p.profiles != nil {
		for _, w := range b.wants {
			p.profiles.WantProfile(w.contact, w.connection)
		}
	}
	p.queueAnswers(ctx, b)
}

// MaxAttempts is after how many failed attempts an event that can cure
// itself (it waits for another event, or met a deadlock) is given up. With
// the backoff below, the last attempt comes about two minutes after the first.
const MaxAttempts = 8

// maxError bounds the error text kept on a journal entry.
const maxError = 1000

// errLater marks a failure that another event's processing may cure.
var errLater = errors.New("waiting for an earlier event")

func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// Wake tells idle workers that the journal has new entries.
func (p *Processor) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run starts workers that process the journal until ctx ends. Besides being
// woken by new entries, they poll, so retries come due and entries journaled
// by other replicas or before a crash are picked up. When processing itself
// fails (the database is unreachable), a worker backs off and logs the error
// once, not once per try. Answers to what customers wait on are sent beside
// them (see AnswerThrough).
func (p *Processor) Run(ctx context.Context, workers int, poll time.Duration) {
	var wg sync.WaitGroup
	wg.Go(func() { p.runAnswers(ctx) })
	for range workers {
		wg.Go(func() {
			var failures int
			var lastErr string
			for ctx.Err() == nil {
				did, err := p.ProcessNext(ctx)
				if err != nil && ctx.Err() == nil {
					if msg := err.Error(); msg != lastErr {
						p.logger.ErrorContext(ctx, "processing the webhook journal; retrying", "err", err)
						lastErr = msg
					}
					failures++
					sleep(ctx, min(50*time.Millisecond<<min(failures, 10), 5*time.Second))
					continue
				}
				if failures > 0 {
					p.logger.InfoContext(ctx, "processing the webhook journal again", "after_failures", failures)
					failures, lastErr = 0, ""
				}
				if did {
					// More may be waiting: an idle worker helps drain it.
					// (Passing on every wake instead had a lone worker wake
					// itself forever, claiming nothing in a loop.)
					p.Wake()
					continue
				}
				select {
				case <-ctx.Done():
				case <-p.wake:
				case <-time.After(poll):
				}
			}
		})
	}
	wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// BatchSize is how many events one transaction applies. Committing once per
// batch rather than per event is what lets processing keep up with hundreds
// of webhooks a second per worker. It also stays within the 64 savepoints
// (one per event) a PostgreSQL transaction keeps cheaply.
const BatchSize = 64

// LaneLocks is the class of the lanes' advisory locks (the two-key form,
// apart from the one-key locks of migrations and accounts).
const LaneLocks = 7283002

// laneWindow is how many of the oldest due events a claim looks at to
// choose its lanes.
const laneWindow = 4 * BatchSize

// lanes matches the events of the lanes this transaction takes. The
// journal gives each event the lane of the customer it concerns
// (journal.Lane), and a claim takes whole lanes, each under an advisory
// lock held until its transaction ends: one customer's events are applied
// by one transaction at a time in journal order, in whatever replica, while
// workers holding other lanes apply other customers' events beside them.
// (Claims of overlapping rows instead made two workers wait on each other's
// contact and conversation locks: two workers drained barely faster than
// one.)
//
// Of the lanes of the oldest events that due matches, in age order, a claim
// takes those it can lock (another transaction holds the rest) until they
// cover a batch. The lanes are chosen before any event is taken, so a lane
// another claim frees meanwhile is not taken half-way: a customer's later
// event is never applied before an earlier one that this claim passed
// over. A light load is one batch; under a backlog a second worker takes
// the next free lanes; events arriving meanwhile mostly fall in lanes no
// one holds, as there is about a lane per customer (with 256 lanes, a batch
// held some 35 of them at 1,000 messages a second from 1,000 chats, and
// two workers' live latency was a third worse than without lanes).
func lanes(due []predicate.WebhookEvent) predicate.WebhookEvent {
	return func(s *entsql.Selector) {
		window := entsql.Dialect(dialect.Postgres).Select(webhookevent.FieldLane, webhookevent.FieldID).From(entsql.Table(webhookevent.Table))
		for _, p := range due {
			p(window)
		}
		window.OrderBy(webhookevent.FieldID).Limit(laneWindow)
		s.Where(entsql.P(func(b *entsql.Builder) {
			b.Ident(s.C(webhookevent.FieldLane)).WriteString(" = ANY(ARRAY(").
				// The due events' lanes, oldest first, with how many each holds.
				WriteString("WITH RECURSIVE due AS MATERIALIZED (").Join(window).WriteString("), ").
				WriteString("waiting AS MATERIALIZED (SELECT array_agg(lane ORDER BY oldest) AS l, array_agg(n ORDER BY oldest) AS n ").
				WriteString("FROM (SELECT lane, count(*) AS n, min(id) AS oldest FROM due GROUP BY lane) g), ").
				// One lane a step: lock it if free, until the locked ones cover a batch.
				WriteString("walk(i, covered, took) AS (SELECT 0, 0::bigint, NULL::smallint UNION ALL ").
				WriteString("SELECT w.i + 1, w.covered + CASE WHEN t.ok THEN q.n[w.i + 1] ELSE 0 END, CASE WHEN t.ok THEN q.l[w.i + 1] END ").
				WriteString(fmt.Sprintf("FROM walk w CROSS JOIN waiting q CROSS JOIN LATERAL (SELECT pg_try_advisory_xact_lock(%d, q.l[w.i + 1]) AS ok) t ", LaneLocks)).
				WriteString(fmt.Sprintf("WHERE w.covered < %d AND w.i < cardinality(q.l)) ", BatchSize)).
				WriteString("SELECT took FROM walk WHERE took IS NOT NULL))")
		}))
	}
}

// queued matches journal entries still to process: neither processed nor
// failed nor skipped (the webhookevent_pending index holds exactly these).
func queued() []predicate.WebhookEvent {
	return []predicate.WebhookEvent{webhookevent.ProcessedAtIsNil(), webhookevent.FailedAtIsNil(), webhookevent.SkippedAtIsNil(), webhookevent.ConnectionIDNotNil()}
}

// due matches queued entries whose (next) attempt is due now.
func (p *Processor) due() []predicate.WebhookEvent {
	return append(queued(), webhookevent.Or(webhookevent.NextAttemptAtIsNil(), webhookevent.NextAttemptAtLTE(p.now())))
}

// Pending queries a connection's backlog: events journaled and not yet
// processed, waiting for their first attempt or for a retry.
func Pending(client *ent.Client, connectionID pulid.ID) *ent.WebhookEventQuery {
	return client.WebhookEvent.Query().Where(append(queued(), webhookevent.ConnectionID(connectionID))...)
}

// ProcessNext processes the oldest due events, one batch in one
// transaction, and reports whether there were any. Each event is applied in
// a savepoint of its own, so a failing event is recorded (retried later, or
// failed) while the rest of the batch commits. The queue cannot stall on
// one event: should a batch fail as a whole for any reason but the database
// being unavailable, its events are processed alone, and one that fails
// even alone is marked failed.
func (p *Processor) ProcessNext(ctx context.Context) (bool, error) {
	p.claims.Add(1)
	ctx = prepared.Hot(system(ctx))
	ids, err := p.claimAndSettle(ctx, BatchSize, "")
	if err == nil || len(ids) == 0 || unavailable(ctx, err) {
		return len(ids) > 0, err
	}
	p.logger.WarnContext(ctx, "a journal batch failed as a whole; processing its events one by one", "events", len(ids), "err", err)
	for _, id := range ids {
		_, err := p.claimAndSettle(ctx, 1, id)
		if err == nil {
			continue
		}
		if unavailable(ctx, err) {
			return true, err
		}
		ev, gerr := p.client.WebhookEvent.Get(ctx, id)
		if gerr != nil {
			return true, gerr
		}
		if ev.ProcessedAt != nil || ev.FailedAt != nil {
			continue // another worker settled it meanwhile
		}
		if err := p.markFailed(ctx, ev, err); err != nil {
			return true, err
		}
	}
	return true, nil
}

// claimAndSettle claims up to limit due events (or the event only, if it is
// still due) and settles them in one transaction; it returns the ids claimed.
func (p *Processor) claimAndSettle(ctx context.Context, limit int, only pulid.ID) ([]pulid.ID, error) {
	var ids []pulid.ID
	var failures []failure
	b := newBatch()
	err := p.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		due := p.due()
		where := append(due, lanes(due))
		if only != "" {
			where = append(where, webhookevent.ID(only))
		}
		var claimed time.Time
		if tracing.On() {
			claimed = time.Now()
		}
		evs, err := tx.WebhookEvent.Query().
			Where(where...).
			Order(webhookevent.ByID()).
			Limit(limit).
			ForUpdate(entsql.WithLockAction(entsql.SkipLocked)).
			All(ctx)
		if err != nil {
			return nil, fmt.Errorf("claiming journal entries: %w", err)
		}
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		if len(evs) == 0 {
			return nil, nil
		}
		if tracing.On() {
			b.startSpans(ctx, evs, claimed)
		}
		var out []events.Event
		out, failures, err = p.settle(ctx, tx, evs, b)
		return out, err
	})
	b.endSpans(err)
	if err != nil {
		return ids, err
	}
	p.committed(ctx, b)
	p.report(ctx, failures)
	return ids, nil
}

// errUnroutable refuses to replay an event no connection was found for.
var errUnroutable = errors.New("unroutable: no connection to apply it to")

// Process processes one journal entry now, whatever its state (replay):
// applied, it is processed; failing, it is retried later or failed, as in
// the queue. Applying an event twice changes nothing.
func (p *Processor) Process(ctx context.Context, id pulid.ID) (*ent.WebhookEvent, error) {
	ctx = system(ctx)
	var ev *ent.WebhookEvent
	var failures []failure
	b := newBatch()
	err := p.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		var err error
		if ev, err = tx.WebhookEvent.Query().Where(webhookevent.ID(id)).ForUpdate().Only(ctx); err != nil {
			return nil, err
		}
		if ev.ConnectionID == nil {
			return nil, fmt.Errorf("event %s is %w", id, errUnroutable)
		}
		if ev.SkippedAt != nil {
			// Replaying a skipped event puts it back in the queue, should it fail and need retries.
			if ev, err = tx.WebhookEvent.UpdateOne(ev).ClearSkippedAt().Save(ctx); err != nil {
				return nil, err
			}
		}
		var out []events.Event
		out, failures, err = p.settle(ctx, tx, []*ent.WebhookEvent{ev}, b)
		return out, err
	})
	switch {
	case err == nil:
		p.committed(ctx, b)
		p.report(ctx, failures)
	case ev == nil || errors.Is(err, errUnroutable) || unavailable(ctx, err):
		return nil, err
	default:
		// The transaction is over, so the row is free to record the failure on.
		if err := p.markFailed(ctx, ev, err); err != nil {
			return nil, err
		}
	}
	return p.client.WebhookEvent.Get(ctx, id)
}

// failure is an event's failed attempt, as recorded.
type failure struct {
	ev       *ent.WebhookEvent
	attempts int
	msg      string
	retryIn  time.Duration // 0: failed for good
	waiting  bool          // it waits for another event: not a fault worth counting
}

// settle applies evs in tx and records every event's outcome there; it
// returns the events to append and the failures to report once committed.
func (p *Processor) settle(ctx context.Context, tx *ent.Tx, evs []*ent.WebhookEvent, b *batch) (_ []events.Event, _ []failure, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic settling a batch: %v", r)
		}
	}()
	appended, failed, err := p.applyAll(ctx, tx, evs, b)
	if err != nil {
		return nil, nil, err
	}
	var done []string
	var failures []failure
	for _, ev := range evs {
		cause := failed[ev.ID]
		if cause == nil {
			done = append(done, string(ev.ID))
			b.applied = append(b.applied, ev.ReceivedAt)
			continue
		}
		f := p.judge(ev, cause)
		if err := p.record(ctx, tx.WebhookEvent.UpdateOneID(ev.ID), f); err != nil {
			return nil, nil, fmt.Errorf("recording the failure of event %s: %w", ev.ID, err)
		}
		b.failedSpan(f)
		failures = append(failures, f)
	}
	if len(done) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_events
			SET processed_at = now(), failed_at = NULL, attempts = attempts + 1, error = NULL, next_attempt_at = NULL
			WHERE id = ANY($1)`, pq.Array(done)); err != nil {
			return nil, nil, fmt.Errorf("marking events processed: %w", err)
		}
	}
	return appended, failures, nil
}

// judge decides what a failed attempt means: a failure that can cure itself
// is retried with backoff until MaxAttempts; anything else (a payload that
// does not decode, data the database refuses, a bug) fails the event now.
func (p *Processor) judge(ev *ent.WebhookEvent, cause error) failure {
	f := failure{ev: ev, attempts: ev.Attempts + 1, msg: cause.Error(), waiting: errors.Is(cause, errLater)}
	if retryable(cause) {
		if f.attempts < MaxAttempts {
			f.retryIn = min(time.Second<<min(f.attempts-1, 12), time.Hour)
			f.retryIn += time.Duration(rand.Int64N(int64(f.retryIn/4) + 1))
		} else {
			f.msg = fmt.Sprintf("gave up after %d attempts: %s", f.attempts, f.msg)
			f.waiting = false
		}
	}
	f.msg = inbound.Text(f.msg)
	if len(f.msg) > maxError {
		f.msg = strings.ToValidUTF8(f.msg[:maxError], "")
	}
	return f
}

// record writes a failed attempt onto its journal entry.
func (p *Processor) record(ctx context.Context, upd *ent.WebhookEventUpdateOne, f failure) error {
	upd.SetAttempts(f.attempts).SetError(f.msg).ClearProcessedAt()
	if f.retryIn > 0 {
		upd.SetNextAttemptAt(p.now().Add(f.retryIn)).ClearFailedAt()
	} else {
		upd.SetFailedAt(p.now()).ClearNextAttemptAt()
	}
	return upd.Exec(ctx)
}

// markFailed fails an event that could not be processed even alone.
func (p *Processor) markFailed(ctx context.Context, ev *ent.WebhookEvent, cause error) error {
	f := p.judge(ev, cause)
	f.retryIn = 0
	if err := p.record(ctx, p.client.WebhookEvent.UpdateOneID(ev.ID), f); err != nil {
		return fmt.Errorf("recording the failure of event %s: %w (failure: %v)", ev.ID, err, cause)
	}
	p.report(ctx, []failure{f})
	return nil
}

// report logs committed failures, one error per event that failed for good,
// and counts them in their connection's webhook health.
func (p *Processor) report(ctx context.Context, failures []failure) {
	for _, f := range failures {
		if f.retryIn > 0 {
			metrics.EventsProcessed.WithLabelValues("retry").Inc()
		} else {
			metrics.EventsProcessed.WithLabelValues("failed").Inc()
		}
		attrs := []any{"event", f.ev.ID, "connection", *f.ev.ConnectionID, "type", f.ev.EventType, "attempt", f.attempts, "err", f.msg}
		switch {
		case f.retryIn == 0:
			p.logger.ErrorContext(ctx, "webhook event failed; it stays out of the queue until replayed", attrs...)
		case f.attempts == 1:
			p.logger.WarnContext(ctx, "webhook event failed; will retry", append(attrs, "retry_in", f.retryIn)...)
		default:
			p.logger.DebugContext(ctx, "webhook event failed again; will retry", append(attrs, "retry_in", f.retryIn)...)
		}
		if !f.waiting {
			p.health.Failed(*f.ev.ConnectionID, fmt.Sprintf("processing %s event %s: %s", f.ev.EventType, f.ev.ID, f.msg), p.now())
		}
	}
}

// retryable reports whether a failed attempt may succeed later by itself:
// the event waits for another, or the database resolved a conflict between
// concurrent transactions by failing this one.
func retryable(err error) bool {
	if errors.Is(err, errLater) {
		return true
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch pe.Code.Class() {
		case "40", "55": // serialization failure, deadlock; lock not available
			return true
		}
	}
	return false
}

// unavailable reports whether err means the database (or this process) could
// not do the work at all, rather than that the work failed: then nothing can
// be recorded, and the work is simply tried again.
func unavailable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch pe.Code.Class() {
		case "08", "53", "57", "58", "XX": // connection, resources, operator intervention, system errors
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// guard runs f, turning a panic into an error: a bug met by one event must
// not take down the worker and, with it, the queue.
func guard[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// isolated runs f in a savepoint, so that when f fails only its own changes
// are undone: it returns f's events, or f's failure as the event's. err is
// set only when the transaction itself is lost.
func isolated(ctx context.Context, tx *ent.Tx, b *batch, f func() ([]events.Event, error)) (out []events.Event, failure, err error) {
	// Savepoints are not released: releasing costs a round trip and frees
	// nothing a short transaction needs back.
	if _, err := tx.ExecContext(ctx, "SAVEPOINT event"); err != nil {
		return nil, nil, fmt.Errorf("taking a savepoint: %w", err)
	}
	wants := len(b.wants)
	out, failure = guard(f)
	if failure == nil {
		return out, nil, nil
	}
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT event"); err != nil {
		return nil, nil, fmt.Errorf("undoing a failed event: %w (it failed with: %v)", err, failure)
	}
	b.wants = b.wants[:wants]
	if unavailable(ctx, failure) {
		return nil, nil, failure
	}
	return nil, failure, nil
}

// applyAll decodes and applies events in one transaction: the new messages
// all together (see storeMessages), then every other event in order, so a
// receipt or an edit finds a message that arrived in the same batch. It
// returns the events to append and why each event that failed did; err is
// set only when the batch as a whole cannot go on.
func (p *Processor) applyAll(ctx context.Context, tx *ent.Tx, evs []*ent.WebhookEvent, b *batch) ([]events.Event, map[pulid.ID]error, error) {
	failed := map[pulid.ID]error{}
	var unnamed []pulid.ID
	for _, ev := range evs {
		if ev.CampaignID != nil && b.conns[*ev.ConnectionID] == nil {
			b.conns[*ev.ConnectionID] = &source{ID: *ev.ConnectionID, CampaignID: *ev.CampaignID, Platform: ev.Platform}
		}
		if ev.Account == nil && ev.CampaignID != nil {
			unnamed = append(unnamed, *ev.ConnectionID)
		}
	}
	if len(unnamed) > 0 {
		cs, err := tx.Connection.Query().Where(connection.IDIn(unnamed...)).Select(connection.FieldExternalID).All(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("loading the accounts of connections: %w", err)
		}
		for _, c := range cs {
			b.conns[c.ID].Holds = c.ExternalID
		}
	}
	var msgs, others []incoming
	for _, ev := range evs {
		x, err := p.decode(ev, b)
		if err != nil {
			failed[ev.ID] = err
			continue
		}
		switch {
		case x.e == nil:
		case x.e.Kind == inbound.NewMessage && x.e.Message.Direction == inbound.Outbound:
			var waiting bool
			err := query(ctx, tx, sendInFlightSQL, func(scan func(...any) error) error { return scan(&waiting) },
				x.conn.ID, x.e.Contact.ExternalID, x.e.Message.ExternalID, x.account)
			if err != nil {
				return nil, nil, fmt.Errorf("looking for a send under way: %w", err)
			}
			if waiting {
				failed[ev.ID] = fmt.Errorf("%w: the echo of a send still under way", errLater)
				continue
			}
			msgs = append(msgs, x)
		case x.e.Kind == inbound.NewMessage:
			msgs = append(msgs, x)
		default:
			others = append(others, x)
		}
	}
	var out []events.Event
	apply := func(evs []*ent.WebhookEvent, f func() ([]events.Event, error)) error {
		more, failure, err := isolated(ctx, tx, b, f)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if failure != nil {
				failed[ev.ID] = failure
			}
		}
		// Events made by one webhook event alone continue its trace.
		if len(evs) == 1 {
			for i := range more {
				if more[i].TraceParent == "" {
					more[i].TraceParent = b.traceParent(evs[0].ID)
				}
			}
		}
		out = append(out, more...)
		return nil
	}
	if len(msgs) > 0 {
		more, failure, err := isolated(ctx, tx, b, func() ([]events.Event, error) { return p.storeMessages(ctx, tx, msgs, b) })
		if err != nil {
			return nil, nil, err
		}
		out = append(out, more...)
		if failure != nil {
			// Some message broke the set: store them one by one, so that
			// only the one that fails fails.
			for _, x := range msgs {
				if err := apply([]*ent.WebhookEvent{x.ev}, func() ([]events.Event, error) {
					return p.storeMessages(ctx, tx, []incoming{x}, b)
				}); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	for _, x := range others {
		if err := apply([]*ent.WebhookEvent{x.ev}, func() ([]events.Event, error) { return p.apply(ctx, tx, x, b) }); err != nil {
			return nil, nil, err
		}
	}
	for _, xs := range [][]incoming{msgs, others} {
		for _, x := range xs {
			if x.e.AnswerID != "" && failed[x.ev.ID] == nil {
				b.answers = append(b.answers, answer{conn: x.conn, id: x.e.AnswerID})
			}
		}
	}
	return out, failed, nil
}

// decode turns a journal entry into what to apply; x.e is nil when there is
// nothing to apply (a test event, an event type we ignore). Errors here are
// the payload's own and no retry cures them.
func (p *Processor) decode(ev *ent.WebhookEvent, b *batch) (incoming, error) {
	ch, err := p.reg.Get(ev.Platform)
	if err != nil {
		return incoming{}, err
	}
	if len(ev.Payload) == 0 {
		return incoming{}, fmt.Errorf("%s %s: its payload was emptied after WEBHOOK_RETENTION, so it cannot be applied again", ev.Platform, ev.EventType)
	}
	e, err := guard(func() (*inbound.Event, error) { return ch.Decode(ev.Payload) })
	if err != nil {
		return incoming{}, fmt.Errorf("decoding %s %s: %w", ev.Platform, ev.EventType, err)
	}
	if e == nil || e.Test || e.Kind == inbound.Ignore {
		return incoming{ev: ev}, nil
	}
	conn := b.conns[*ev.ConnectionID]
	if conn == nil {
		return incoming{}, fmt.Errorf("event of connection %s names no campaign", *ev.ConnectionID)
	}
	e.MakeStorable()
	if e.Contact.ExternalID == "" {
		return incoming{}, fmt.Errorf("%s event names no customer", ev.EventType)
	}
	if e.Kind == inbound.NewMessage && (e.Message == nil || e.Message.ExternalID == "") {
		return incoming{}, fmt.Errorf("%s event carries no message id", ev.EventType)
	}
	x := incoming{ev: ev, e: e, conn: conn, account: conn.Holds}
	if ev.Account != nil {
		x.account = *ev.Account
	}
	return x, nil
}

// Position is where a message sorts in its conversation: platform time in
// milliseconds, then the journal entry's id (arrival order). Both are fixed
// when the webhook arrives, so every replica computes the same order.
func Position(at time.Time, arrival pulid.ID) string {
	return fmt.Sprintf("%013d|%s", max(at.UnixMilli(), 0), arrival)
}
