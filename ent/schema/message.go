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

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/rule"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
)

// Message is one message of a conversation, in either direction.
type Message struct {
	ent.Schema
}

// Mixin returns the id and timestamp mixins.
func (Message) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("msg"), TimeMixin{}, inCampaign("messages", rule.Member, entgql.Skip(entgql.SkipAll))}
}

// Fields returns the message's fields.
func (Message) Fields() []ent.Field {
	return []ent.Field{
		field.String("conversation_id").GoType(pulid.ID("")).Immutable().Comment("The conversation."),
		field.String("connection_id").GoType(pulid.ID("")).Immutable().
			Comment("The channel, copied from the conversation; external ids are unique per channel and account."),
		field.String("sender_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().
			Comment("The agent who sent an outbound message from Switchboard, if any."),
		field.Enum("direction").
			Values("INBOUND", "OUTBOUND").
			Immutable().
			Comment("INBOUND from the customer, OUTBOUND to the customer."),
		field.Enum("kind").
			Values("TEXT", "IMAGE", "FILE", "AUDIO", "VIDEO", "STICKER", "LOCATION", "OTHER").
			Default("TEXT").
			Comment("What the message carries."),
		field.Text("text").
			Default("").
			Comment("The text, or the caption of media."),
		field.JSON("author", &schematype.MessageAuthor{}).
			Optional().
			Comment("Who wrote it, when that can differ from the conversation's contact (a member of a group)."),
		field.Time("edited_at").
			Optional().
			Nillable().
			Comment("When the customer last edited it."),
		field.JSON("attachments", []schematype.Attachment{}).
			Optional().
			Comment("Media, files and locations carried by the message."),
		field.String("external_id").
			Optional().
			Nillable().
			Comment("The platform's message id; unique per connection and account. A send the platform took as several messages has the first one's."),
		// A platform may number messages per account (a Telegram bot's
		// message ids count from 1 in each chat): after a connection moves
		// to another account, that account's ids repeat the old one's.
		field.String("account").
			Default("").
			Comment("The platform account (bot, page, OA, phone number id) whose message ids external_id and external_ids are; empty until an outbound message is sent.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Strings("external_ids").
			Optional().
			Comment("Every platform message id of a send the platform took as several messages (text over the caption limit, Messenger's text and attachment), the first included.").
			Annotations(entgql.Skip(entgql.SkipAll)), // exposed as externalIDs (graph/messaging.graphqls)
		field.Enum("status").
			Values("PENDING", "SENT", "DELIVERED", "READ", "FAILED", "CANCELED").
			Default("SENT").
			Comment("Delivery status: PENDING until the platform takes it, then SENT, DELIVERED and READ as receipts say (never backward); FAILED when it could not be sent; CANCELED when an agent stopped it before it was sent."),
		field.String("error").
			Optional().
			Comment("Why the last attempt to send failed (the platform's own words), when it did."),
		field.String("client_message_id").
			Optional().
			Nillable().
			Immutable().
			Comment("The sender's own id of an outbound message: the same id in the same conversation is the same message, so a double click or a network retry never sends twice.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.Int("attempts").
			Default(0).
			Comment("How many times sending was tried."),
		field.Time("next_attempt_at").
			Optional().
			Nillable().
			Comment("When sending is tried (again), while PENDING."),
		field.Time("claimed_at").
			Optional().
			Nillable().
			Comment("When the attempt now under way started; nil when none is.").
			Annotations(entgql.Skip()),
		field.Time("sent_at").
			Default(time.Now).
			Comment("The platform's timestamp of the message.").
			Annotations(entgql.OrderField("SENT_AT")),
		field.String("position").
			NotEmpty().
			Immutable().
			Comment("Where the message sorts in its conversation: the platform's timestamp (ms, zero-padded), then the id of the journal entry it came from (arrival order, since platform timestamps are often whole seconds). Fixed at receipt, so any replica processing in any order agrees.").
			Annotations(entgql.OrderField("POSITION"), entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Edges returns the message's relations.
func (Message) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("conversation", Conversation.Type).Ref("messages").Field("conversation_id").Unique().Required().Immutable().
			Comment("The conversation."),
		edge.From("connection", Connection.Type).Ref("messages").Field("connection_id").Unique().Required().Immutable().
			Comment("The channel.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("sender", User.Type).Field("sender_id").Unique().Immutable().
			Comment("The agent who sent it, for outbound messages sent from Switchboard."),
	}
}

// Indexes deduplicate platform messages and serve the oldest-first message list.
func (Message) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("connection_id", "account", "external_id").Unique(),
		index.Fields("conversation_id", "position"),
		index.Fields("campaign_id"),
		index.Fields("conversation_id", "client_message_id").Unique(),
		// The outbox: what is still to send, per conversation in order.
		index.Fields("conversation_id", "position").
			StorageKey("message_outbox").
			Annotations(entsql.IndexWhere("direction = 'OUTBOUND' AND status = 'PENDING'")),
		// Echoes and receipts of every part of a send find it.
		index.Fields("external_ids").
			Annotations(entsql.IndexType("GIN")),
	}
}

// Annotations exposes messages as GraphQL nodes.
func (Message) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
	}
}
