package ingest

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/tracing"
)

// eventSpan is the processing span of one journaled event, and the
// traceparent its domain events carry to the fan-out.
type eventSpan struct {
	span    trace.Span
	parent  string
	outcome string // "" while applied
}

// startSpans starts an "ingest" span for each claimed event that carries
// its webhook's trace, a child of the request's journal span.
//
// A batch applies up to BatchSize events of as many webhooks, hence traces,
// in one transaction. One span for the batch could be the child of one
// webhook only (the others' traces would end at the journal, linked from a
// stranger's), so each event has its own span, and it covers what its
// processing really was: the whole transaction, from the claim to the
// commit, shared with ingest.batch.events others. The work cannot be split
// honestly any finer: new messages are stored set-wise, a few statements for
// the whole batch.
func (b *batch) startSpans(ctx context.Context, evs []*ent.WebhookEvent, claimed time.Time) {
	for _, ev := range evs {
		if ev.TraceParent == nil {
			continue
		}
		parent := tracing.Remote(*ev.TraceParent)
		if !parent.IsValid() {
			continue
		}
		attrs := []attribute.KeyValue{
			attribute.String("webhook_event.id", string(ev.ID)), attribute.String("webhook_event.type", ev.EventType),
			attribute.String("platform", string(ev.Platform)), attribute.Int("ingest.attempt", ev.Attempts+1),
			attribute.Int("ingest.batch.events", len(evs)),
		}
		if ev.ConnectionID != nil {
			attrs = append(attrs, attribute.String("connection.id", string(*ev.ConnectionID)))
		}
		sctx, span := tracing.Start(trace.ContextWithRemoteSpanContext(ctx, parent), "ingest",
			trace.WithTimestamp(claimed), trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
		if b.spans == nil {
			b.spans = map[pulid.ID]*eventSpan{}
		}
		b.spans[ev.ID] = &eventSpan{span: span, parent: tracing.Parent(sctx)}
	}
}

// traceParent is what the domain events an event causes carry: its
// processing span ("" when untraced).
func (b *batch) traceParent(id pulid.ID) string {
	if s := b.spans[id]; s != nil {
		return s.parent
	}
	return ""
}

// failedSpan records a failed attempt on its event's span.
func (b *batch) failedSpan(f failure) {
	s := b.spans[f.ev.ID]
	if s == nil {
		return
	}
	s.outcome = "failed"
	if f.retryIn > 0 {
		s.outcome = "retry"
		s.span.SetAttributes(attribute.String("ingest.retry_in", f.retryIn.String()))
	}
	s.span.SetStatus(codes.Error, f.msg)
}

// endSpans ends the batch's spans once its transaction is over; err is why
// the batch failed as a whole (its events are then tried again).
func (b *batch) endSpans(err error) {
	for _, s := range b.spans {
		switch {
		case err != nil:
			s.outcome = "batch failed"
			s.span.RecordError(err)
			s.span.SetStatus(codes.Error, err.Error())
		case s.outcome == "":
			s.outcome = "applied"
		}
		s.span.SetAttributes(attribute.String("ingest.outcome", s.outcome))
		s.span.End()
	}
	b.spans = nil
}
