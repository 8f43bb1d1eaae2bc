package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/rule"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
)

// WebhookEvent is the inbound journal: every accepted platform webhook, stored
// before it is acknowledged and processed from here.
type WebhookEvent struct {
	ent.Schema
}

// Mixin returns the id mixin.
func (WebhookEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("whe")}
}

// Fields returns the journal entry's fields.
func (WebhookEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("platform").
			GoType(schematype.Platform("")).
			Annotations(entgql.Type("Platform")).
			Immutable().
			Comment("The platform that sent the webhook."),
		// Immutable to ent: only the journal sets it, in SQL (journal.Reroute).
		field.String("connection_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().
			Comment("The connection it was routed to, on arrival or once the account of an unroutable event was connected; nil while no connection matches (unroutable)."),
		field.String("campaign_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().
			Comment("The campaign of that connection, so access rules apply without a join."),
		field.String("account").
			Optional().
			Nillable().
			Immutable().
			Comment("The platform account the event is for (bot, page, OA, phone number id): what routes an unroutable event once that account is connected, and what deduplicates across reconnects."),
		field.String("event_type").
			Immutable().
			Comment("The platform's event name (message, edited_message, user_send_text, statuses, ...)."),
		field.String("dedup_key").
			Immutable().
			Comment("The platform's unique id of the event, so a redelivery adds nothing.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.Bytes("payload").
			Immutable().
			Comment("The raw request body exactly as received.").
			Annotations(entgql.Skip()),
		field.Time("received_at").
			Default(time.Now).
			Immutable().
			Comment("When the webhook arrived.").
			Annotations(entgql.OrderField("RECEIVED_AT")),
		field.Time("processed_at").
			Optional().
			Nillable().
			Comment("When the event was applied; nil while it is pending, and when it failed."),
		field.Time("failed_at").
			Optional().
			Nillable().
			Comment("When processing gave up: an error no retry cures, or too many attempts. The event leaves the queue; replayWebhookEvent tries it again."),
		field.Int("response_status").
			Default(200).
			Comment("The HTTP status Switchboard answered with."),
		field.String("error").
			Optional().
			Comment("Why the last attempt failed, if it did (or why the event is unroutable)."),
		field.Int("attempts").
			Default(0).
			Comment("How many times processing was tried."),
		field.Int("repeats").
			Default(0).
			Comment("Rejected requests like this one (same connection, reason and minute) counted here rather than stored."),
		field.Time("skipped_at").
			Optional().
			Nillable().
			Comment("When a manager cleared it from the queue (skipWebhookEvents): kept, not processed, replayable."),
		field.Time("next_attempt_at").
			Optional().
			Nillable().
			Comment("When processing is tried again after a failure.").
			Annotations(entgql.Skip()),
		// Set in SQL by the journal only (package journal).
		field.Int16("lane").
			Default(0).
			Immutable().
			Comment("The processing lane the event queues in: a hash of the customer it concerns (the thread Split names), so that one customer's events are applied one after another in arrival order while other customers' are applied beside them (package ingest).").
			Annotations(entgql.Skip()),
		field.String("trace_parent").
			Optional().
			Nillable().
			Immutable().
			Comment("The W3C traceparent of the webhook's journal span, when tracing was on: processing, later and on any replica, continues that trace.").
			Annotations(entgql.Skip()),
	}
}

// Edges returns the connection and campaign the event belongs to.
func (WebhookEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("connection", Connection.Type).Ref("webhook_events").Field("connection_id").Unique().Immutable().
			Comment("The connection it was routed to."),
		edge.From("campaign", Campaign.Type).Ref("webhook_events").Field("campaign_id").Unique().Immutable().
			Comment("The campaign of that connection.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes deduplicates per account, and finds pending work and a
// connection's events.
func (WebhookEvent) Indexes() []ent.Index {
	return []ent.Index{
		// A platform redelivers (or a replay repeats) an event to whichever
		// connection holds the account now: a reconnect, which makes a new
		// connection, must not make an event new again. Not per connection:
		// a connection switched to another account gets that account's
		// events, whose keys (a bot's update ids) may repeat the old one's.
		// It also finds an account's unroutable events when the account is
		// connected.
		index.Fields("platform", "account", "dedup_key").Unique(),
		// Refused requests carry no verified account: their samples count
		// repeats per connection.
		index.Fields("connection_id", "dedup_key").
			Unique().
			StorageKey("webhookevent_rejected").
			Annotations(entsql.IndexWhere("event_type = 'rejected'")),
		index.Fields("connection_id", "id"),
		index.Fields("received_at"),
		// The processing queue: what is still to do, oldest first, so a
		// claim never scans or sorts the processed (or failed) history.
		index.Fields("id").
			StorageKey("webhookevent_pending").
			Annotations(entsql.IndexWhere("processed_at IS NULL AND failed_at IS NULL AND skipped_at IS NULL AND connection_id IS NOT NULL")),
		index.Fields("campaign_id", "received_at"),
	}
}

// Annotations exposes the journal with a paginated query.
func (WebhookEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField().Description("The webhook journal: the platform events received for the connections the viewer may read, accepted or refused, with their outcome; where filters them."),
		entgql.RelayConnection(),
	}
}

// Policy applies the campaign access rules (see package rule).
func (WebhookEvent) Policy() ent.Policy {
	return privacy.Policy{Query: rule.ReadPolicy(), Mutation: rule.SystemOnly()}
}
