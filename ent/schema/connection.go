package schema

import (
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

// Connection is one platform account (Facebook page, Telegram bot, Zalo OA,
// WhatsApp number) connected to a campaign.
type Connection struct {
	ent.Schema
}

// Mixin returns the id and timestamp mixins.
func (Connection) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("con"), TimeMixin{}, inCampaign("connections", rule.Manager)}
}

// Fields returns the connection's fields.
func (Connection) Fields() []ent.Field {
	return []ent.Field{
		field.JSON("health", schematype.ConnectionHealth{}).
			Optional().
			Comment("What the platform said at the last check; null until the first.").
			Annotations(entgql.Skip()),
		field.Time("last_sync_at").
			Optional().
			Nillable().
			Comment("When the platform was last checked successfully."),
		field.Time("next_check_at").
			Optional().
			Nillable().
			Comment("When the health checker looks at the connection next; it is claimed by moving this on.").
			Annotations(entgql.Skip()),
		field.JSON("widget", schematype.ZaloWidget{}).
			Optional().
			Comment("The Zalo interaction widget's settings (Zalo connections).").
			Annotations(entgql.Skip()),
		field.Enum("platform").
			GoType(schematype.Platform("")).
			Annotations(entgql.Type("Platform")).
			Immutable().
			Comment("The messaging platform.").
			Annotations(entgql.OrderField("PLATFORM")),
		// Mutable only by switchConnectionAccount, which moves the connection to another account.
		field.String("external_id").
			NotEmpty().
			Comment("The platform's id of the account: bot id, page id, OA id or WhatsApp phone_number_id.").
			Annotations(entgql.Skip(entgql.SkipOrderField)),
		field.String("name").
			Default("").
			Comment("Display name of the page, bot, OA or number.").
			Annotations(entgql.OrderField("NAME")),
		field.String("username").
			Optional().
			Comment("Handle on the platform where it has one (Telegram bot username, WhatsApp display number)."),
		field.Enum("status").
			Values("ACTIVE", "INACTIVE", "ERROR").
			Default("ACTIVE").
			Comment("ACTIVE receives and sends; INACTIVE was disconnected; ERROR needs attention (see status_reason).").
			Annotations(entgql.OrderField("STATUS")),
		field.String("status_reason").
			Optional().
			Comment("Why the connection is in ERROR, in words an agent can act on."),
		field.Time("connected_at").
			Comment("When the account was (last) connected.").
			Annotations(entgql.OrderField("CONNECTED_AT")),
		field.Time("disconnected_at").
			Optional().
			Nillable().
			Comment("When the account was disconnected; nil while it is live."),
		field.Time("token_expires_at").
			Optional().
			Nillable().
			Comment("When the stored access token expires; nil for tokens that do not expire."),
		field.Bytes("credentials").
			Optional().
			Sensitive().
			Comment("Encrypted platform credentials (tokens, secrets); never returned by the API.").
			Annotations(entgql.Skip()),
		field.String("token_hint").
			Default("").
			Comment("A masked hint of the token (first and last characters) so people can tell tokens apart."),
		field.Time("webhook_last_received_at").
			Optional().
			Nillable().
			Comment("When the last webhook for this connection arrived.").
			Annotations(entgql.Skip()),
		field.Int64("webhook_total_received").
			Default(0).
			Comment("Webhooks received for this connection.").
			Annotations(entgql.Skip()),
		field.Int64("webhook_error_count").
			Default(0).
			Comment("Webhooks for this connection that were rejected or failed to process.").
			Annotations(entgql.Skip()),
		field.String("webhook_last_error").
			Optional().
			Comment("The most recent webhook error for this connection.").
			Annotations(entgql.Skip()),
		field.Time("webhook_last_error_at").
			Optional().
			Nillable().
			Comment("When the most recent webhook error happened; after the last success it makes the webhook status ERROR.").
			Annotations(entgql.Skip()),
	}
}

// Edges returns the owning campaign and the connection's traffic.
func (Connection) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("conversations", Conversation.Type).
			Comment("Conversations that arrived through this connection.").
			Annotations(entgql.RelayConnection()),
		edge.To("messages", Message.Type).
			Comment("Messages sent or received through this connection.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("webhook_events", WebhookEvent.Type).
			Comment("The webhook journal of this connection.").
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes keeps each platform account live in at most one campaign.
func (Connection) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("platform", "external_id").
			Unique().
			Annotations(entsql.IndexWhere("disconnected_at IS NULL")),
		index.Fields("campaign_id"),
	}
}

// Annotations exposes connections with a paginated query.
func (Connection) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField().Description("The channel connections (Telegram bots, Facebook pages, Zalo OAs, WhatsApp numbers) of the campaigns the viewer may read; where filters them."),
		entgql.RelayConnection(),
	}
}
