package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// DomainEvent is the event log behind subscriptions: one row per change
// (message added or updated, conversation, connection or call updated),
// written in the same transaction as the change. Its order is (xid, id):
// ids are taken before commit, so a lower id can become visible after a
// higher one; readers only read transactions older than every one still in
// flight, and any later commit has a larger xid, so a cursor never skips a row.
type DomainEvent struct {
	ent.Schema
}

// Fields returns the event's fields.
func (DomainEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Comment("Sequence number; unique, but only (xid, id) is commit-ordered."),
		field.Int64("xid").
			Optional().
			Immutable().
			Comment("The writing transaction's id (pg_current_xact_id), set by the database.").
			Annotations(entsql.DefaultExpr("(pg_current_xact_id()::text)::bigint")),
		field.Enum("type").
			Values("MESSAGE_ADDED", "MESSAGE_UPDATED", "CONVERSATION_UPDATED", "CONNECTION_UPDATED", "CALL_UPDATED").
			Immutable().
			Comment("What changed."),
		field.String("campaign_id").GoType(pulid.ID("")).Immutable().Comment("The campaign it happened in."),
		field.String("conversation_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().
			Comment("The conversation, for message and conversation events."),
		field.String("entity_id").GoType(pulid.ID("")).Immutable().Comment("The message, conversation, connection or call that changed."),
		field.Time("created_at").Default(time.Now).Immutable().Comment("When the change was made."),
		field.String("trace_parent").Optional().Nillable().Immutable().
			Comment("The W3C traceparent of the span that made the change, when tracing was on: the fan-out continues that trace."),
	}
}

// Indexes serve reading the log in commit order, whole or per campaign.
func (DomainEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("xid", "id"),
		index.Fields("campaign_id", "xid", "id"),
	}
}

// Annotations keep the log out of the GraphQL schema: clients read it through subscriptions.
func (DomainEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy: only the system writes and reads the log directly.
func (DomainEvent) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}
