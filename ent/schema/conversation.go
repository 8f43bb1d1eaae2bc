package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/rule"
)

// Conversation is a thread between a contact and the campaign on one connection.
type Conversation struct {
	ent.Schema
}

// Mixin returns the id and timestamp mixins.
func (Conversation) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("cnv"), TimeMixin{}, inCampaign("conversations", rule.Member)}
}

// Fields returns the conversation's fields.
func (Conversation) Fields() []ent.Field {
	return []ent.Field{
		field.String("connection_id").GoType(pulid.ID("")).Immutable().Comment("The channel the conversation runs on."),
		field.String("contact_id").GoType(pulid.ID("")).Immutable().Comment("The customer."),
		field.Enum("status").
			Values("OPEN", "PENDING", "RESOLVED").
			Default("OPEN").
			Comment("OPEN needs an answer; PENDING waits on the customer; RESOLVED is done until the customer writes again.").
			Annotations(entgql.OrderField("STATUS")),
		field.String("assignee_id").GoType(pulid.ID("")).Optional().Nillable().
			Comment("The agent responsible, if any."),
		field.String("last_message_id").GoType(pulid.ID("")).Optional().Nillable().
			Comment("The newest message, kept here so a conversation list needs no per-row lookup."),
		field.Time("last_message_at").
			Default(time.Now).
			Comment("Time of the newest message (or of creation), the default sort of conversation lists.").
			Annotations(entgql.OrderField("LAST_MESSAGE_AT")),
		field.Int("unread_count").
			Default(0).
			NonNegative().
			Comment("Inbound messages no agent has read yet.").
			Annotations(entgql.OrderField("UNREAD_COUNT")),
		field.Time("read_at").
			Optional().
			Nillable().
			Comment("When an agent last marked the conversation read."),
		field.String("read_by_id").GoType(pulid.ID("")).Optional().Nillable().
			Comment("The agent who last marked the conversation read."),
	}
}

// Edges returns the conversation's relations.
func (Conversation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("connection", Connection.Type).Ref("conversations").Field("connection_id").Unique().Required().Immutable().
			Comment("The channel the conversation runs on."),
		edge.From("contact", Contact.Type).Ref("conversations").Field("contact_id").Unique().Required().Immutable().
			Comment("The customer."),
		edge.To("assignee", User.Type).Field("assignee_id").Unique().
			Comment("The agent responsible, if any."),
		edge.To("read_by", User.Type).Field("read_by_id").Unique().
			Comment("The agent who last marked the conversation read."),
		edge.To("last_message", Message.Type).Field("last_message_id").Unique().
			Comment("The newest message."),
		edge.To("messages", Message.Type).
			Comment("The conversation's messages, oldest first.").
			Annotations(entgql.RelayConnection()),
		edge.To("calls", Call.Type).
			Comment("Calls made about this conversation.").
			Annotations(entgql.RelayConnection()),
		edge.To("tags", Tag.Type).
			Comment("Labels put on the conversation."),
	}
}

// Indexes serve the conversation list and the find-or-open lookup of ingest.
func (Conversation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("campaign_id", "last_message_at"),
		// One conversation per customer and channel: a new message reopens a resolved one.
		index.Fields("connection_id", "contact_id").Unique(),
		index.Fields("assignee_id"),
	}
}

// Annotations exposes conversations with a paginated query.
func (Conversation) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField().Description("The inbox: the conversations of the campaigns the viewer may read; orderBy sorts them (by the last message's time, for the usual inbox) and where filters them."),
		entgql.RelayConnection(),
	}
}
