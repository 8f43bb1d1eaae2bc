// Package ingest turns journaled webhook events into contacts, conversations
// and messages, exactly once, and publishes what changed. Workers claim
// journal rows with FOR UPDATE SKIP LOCKED, so any number of them, in any
// number of replicas, share the backlog; each event is applied and marked
// processed in one transaction, so a crash replays it and the unique keys
// make the replay a no-op. A failing event is retried with backoff and its
// error shown in the journal; it never blocks the events behind it.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/predicate"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/inbound"
)

// Decoder decodes one journaled fragment of a platform.
type Decoder func(raw []byte) (*inbound.Event, error)

// Processor applies journaled events.
type Processor struct {
	client   *ent.Client
	decoders map[schematype.Platform]Decoder
	notify   Notifier
	profiles ProfileWanter
	logger   *slog.Logger
	wake     chan struct{}
	now      func() time.Time
}

// New returns a processor; decoders maps each platform to its adapter's Decode.
func New(client *ent.Client, decoders map[schematype.Platform]Decoder, notify Notifier, logger *slog.Logger) *Processor {
	return &Processor{client: client, decoders: decoders, notify: notify, logger: logger, wake: make(chan struct{}, 1), now: time.Now}
}

// Notifier learns that a transaction that appended domain events committed
// (the events hub, which fans them out to subscribers).
type Notifier interface{ Committed() }

// ProfileWanter fetches customers' names the webhook did not carry, later.
type ProfileWanter interface{ WantProfile(contactID pulid.ID) }

// FetchProfiles has contacts that arrive without a name looked up.
func (p *Processor) FetchProfiles(w ProfileWanter) { p.profiles = w }

// batch is what one transaction's events share: connections already
// loaded, and contacts whose profile to fetch once it commits.
type batch struct {
	conns map[pulid.ID]*ent.Connection
	wants []pulid.ID
}

func (p *Processor) committed(b *batch) {
	p.notify.Committed()
	if p.profiles != nil {
		for _, id := range b.wants {
			p.profiles.WantProfile(id)
		}
	}
}

// MaxAttempts is after how many failures an event that waits for another
// (an edit or receipt whose message never arrived) is given up.
const MaxAttempts = 8

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
// by other replicas or before a crash are picked up.
func (p *Processor) Run(ctx context.Context, workers int, poll time.Duration) {
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				did, err := p.ProcessNext(ctx)
				if err != nil && ctx.Err() == nil {
					p.logger.ErrorContext(ctx, "processing the webhook journal", "err", err)
				}
				if did {
					continue
				}
				select {
				case <-ctx.Done():
				case <-p.wake:
					p.Wake() // pass it on to the next idle worker
				case <-time.After(poll):
				}
			}
		}()
	}
	for range workers {
		<-done
	}
}

// BatchSize is how many events one transaction applies on the fast path.
// Committing once per batch rather than per event is what lets processing
// keep up with hundreds of webhooks a second per worker.
const BatchSize = 64

// due matches journal entries waiting for processing.
func (p *Processor) due() []predicate.WebhookEvent {
	return []predicate.WebhookEvent{
		webhookevent.ProcessedAtIsNil(),
		webhookevent.ConnectionIDNotNil(),
		webhookevent.Or(webhookevent.NextAttemptAtIsNil(), webhookevent.NextAttemptAtLTE(p.now())),
	}
}

// ProcessNext processes the oldest due events and reports whether there were
// any. It applies a batch in one transaction; if any event of it fails (or
// two workers' batches deadlock on a conversation), the batch is rolled back
// and its events are processed one by one, so a failing event is isolated
// and recorded, and the others go through.
func (p *Processor) ProcessNext(ctx context.Context) (bool, error) {
	ctx = system(ctx)
	tx, err := p.client.Tx(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	evs, err := tx.WebhookEvent.Query().
		Where(p.due()...).
		Order(webhookevent.ByID()).
		Limit(BatchSize).
		ForUpdate(entsql.WithLockAction(entsql.SkipLocked)).
		All(ctx)
	if err != nil {
		return false, fmt.Errorf("claiming journal entries: %w", err)
	}
	if len(evs) == 0 {
		return false, nil
	}
	b := &batch{conns: map[pulid.ID]*ent.Connection{}}
	batchErr := func() error {
		appended, err := p.applyAll(ctx, tx, evs, b)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(evs))
		for _, ev := range evs {
			ids = append(ids, string(ev.ID))
		}
		if err := events.Append(ctx, tx.Client(), appended...); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_events
			SET processed_at = now(), attempts = attempts + 1, error = NULL, next_attempt_at = NULL
			WHERE id = ANY($1)`, pq.Array(ids))
		if err != nil {
			return err
		}
		return tx.Commit()
	}()
	if batchErr == nil {
		p.committed(b)
		return true, nil
	}
	_ = tx.Rollback()
	for _, ev := range evs {
		if err := p.one(ctx, ev.ID); err != nil {
			return true, err
		}
	}
	return true, nil
}

// one processes a single event in its own transaction, if it is still due.
func (p *Processor) one(ctx context.Context, id pulid.ID) error {
	tx, err := p.client.Tx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	ev, err := tx.WebhookEvent.Query().
		Where(append(p.due(), webhookevent.ID(id))...).
		ForUpdate(entsql.WithLockAction(entsql.SkipLocked)).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil // processed meanwhile, or claimed by another worker
	}
	if err != nil {
		return err
	}
	return p.run(ctx, tx, ev)
}

// Process processes one journal entry now, whatever its state (replay).
// Applying an event twice changes nothing.
func (p *Processor) Process(ctx context.Context, id pulid.ID) (*ent.WebhookEvent, error) {
	ctx = system(ctx)
	tx, err := p.client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	ev, err := tx.WebhookEvent.Query().Where(webhookevent.ID(id)).ForUpdate().Only(ctx)
	if err != nil {
		return nil, err
	}
	if ev.ConnectionID == nil {
		return ev, fmt.Errorf("event %s is unroutable: no connection to apply it to", id)
	}
	if err := p.run(ctx, tx, ev); err != nil {
		p.logger.WarnContext(ctx, "replayed webhook event failed", "event", id, "err", err)
	}
	return p.client.WebhookEvent.Get(ctx, id)
}

// run applies ev inside tx and commits, or records the failure.
func (p *Processor) run(ctx context.Context, tx *ent.Tx, ev *ent.WebhookEvent) error {
	b := &batch{conns: map[pulid.ID]*ent.Connection{}}
	published, applyErr := p.applyAll(ctx, tx, []*ent.WebhookEvent{ev}, b)
	attempts := ev.Attempts + 1
	if applyErr != nil && !(errors.Is(applyErr, errLater) && attempts >= MaxAttempts) {
		_ = tx.Rollback()
		return p.fail(ctx, ev, attempts, applyErr)
	}
	if err := events.Append(ctx, tx.Client(), published...); err != nil {
		return err
	}
	upd := tx.WebhookEvent.UpdateOne(ev).SetAttempts(attempts).SetProcessedAt(p.now()).ClearNextAttemptAt().ClearError()
	if applyErr != nil {
		upd.SetError("gave up: " + applyErr.Error())
	}
	if err := upd.Exec(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing event %s: %w", ev.ID, err)
	}
	p.committed(b)
	return nil
}

// applyAll decodes and applies events in one transaction: the new messages
// all together (see storeMessages), then every other event in order, so a
// receipt or an edit finds a message that arrived in the same batch.
func (p *Processor) applyAll(ctx context.Context, tx *ent.Tx, evs []*ent.WebhookEvent, b *batch) ([]events.Event, error) {
	var msgs []incoming
	var others []incoming
	for _, ev := range evs {
		dec, ok := p.decoders[ev.Platform]
		if !ok {
			return nil, fmt.Errorf("no decoder for %s", ev.Platform)
		}
		e, err := dec(ev.Payload)
		if err != nil {
			return nil, fmt.Errorf("decoding %s %s: %w", ev.Platform, ev.EventType, err)
		}
		if e.Test || e.Kind == inbound.Ignore {
			continue
		}
		conn := b.conns[*ev.ConnectionID]
		if conn == nil {
			if conn, err = tx.Connection.Get(ctx, *ev.ConnectionID); err != nil {
				return nil, fmt.Errorf("loading connection: %w", err)
			}
			b.conns[conn.ID] = conn
		}
		if e.Contact.ExternalID == "" {
			return nil, fmt.Errorf("%s event names no customer", ev.EventType)
		}
		x := incoming{ev: ev, e: e, conn: conn}
		if e.Kind == inbound.NewMessage {
			if e.Message == nil || e.Message.ExternalID == "" {
				return nil, fmt.Errorf("%s event carries no message id", ev.EventType)
			}
			msgs = append(msgs, x)
			continue
		}
		others = append(others, x)
	}
	out, err := p.storeMessages(ctx, tx, msgs, b)
	if err != nil {
		return nil, err
	}
	for _, x := range others {
		more, err := p.apply(ctx, tx, x)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// fail records a failed attempt and when to try again, and counts it on the
// connection's webhook health.
func (p *Processor) fail(ctx context.Context, ev *ent.WebhookEvent, attempts int, cause error) error {
	backoff := min(time.Second<<min(attempts-1, 12), time.Hour)
	backoff += time.Duration(rand.Int64N(int64(backoff/4) + 1))
	msg := cause.Error()
	now := p.now()
	if err := p.client.WebhookEvent.UpdateOne(ev).
		SetAttempts(attempts).
		SetError(msg).
		SetNextAttemptAt(now.Add(backoff)).
		Exec(ctx); err != nil {
		return fmt.Errorf("recording failure of event %s: %w (failure: %v)", ev.ID, err, cause)
	}
	if !errors.Is(cause, errLater) {
		if err := p.client.Connection.UpdateOneID(*ev.ConnectionID).
			AddWebhookErrorCount(1).
			SetWebhookLastError(fmt.Sprintf("processing %s event %s: %s", ev.EventType, ev.ID, msg)).
			SetWebhookLastErrorAt(now).
			Exec(ctx); err != nil {
			p.logger.WarnContext(ctx, "counting a webhook error", "connection", *ev.ConnectionID, "err", err)
		}
	}
	p.logger.WarnContext(ctx, "webhook event failed; will retry", "event", ev.ID, "attempt", attempts, "retry_in", backoff, "err", msg)
	return nil
}

// Position is where a message sorts in its conversation: platform time in
// milliseconds, then the journal entry's id (arrival order). Both are fixed
// when the webhook arrives, so every replica computes the same order.
func Position(at time.Time, arrival pulid.ID) string {
	return fmt.Sprintf("%013d|%s", max(at.UnixMilli(), 0), arrival)
}
