package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/rule"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
)

// Contact is a customer as seen on one platform within a campaign.
type Contact struct {
	ent.Schema
}

// Mixin returns the id and timestamp mixins.
func (Contact) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("ctc"), TimeMixin{}, inCampaign("contacts", rule.Member)}
}

// Fields returns the contact's fields.
func (Contact) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("platform").
			GoType(schematype.Platform("")).
			Annotations(entgql.Type("Platform")).
			Immutable().
			Comment("The platform the customer is on."),
		field.String("external_id").
			NotEmpty().
			Immutable().
			Comment("The id used to reply: Telegram chat id, Facebook PSID, Zalo sender.id, WhatsApp wa_id."),
		field.String("name").
			Default("").
			Comment("The customer's name as the platform gives it.").
			Annotations(entgql.OrderField("NAME")),
		field.String("avatar_url").
			Optional().
			Comment("Profile picture URL, when the platform shares one."),
		field.String("phone").
			Optional().
			Comment("Phone number, when known (WhatsApp, Zalo user_submit_info, or entered by an agent)."),
		field.String("customer_id").
			Optional().
			Comment("The business's own id for this customer (Zalo user_external_id); set once, never overwritten."),
	}
}

// Edges returns the campaign, conversations and calls of the contact.
func (Contact) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("conversations", Conversation.Type).
			Comment("Conversations with this customer.").
			Annotations(entgql.RelayConnection()),
		edge.To("calls", Call.Type).
			Comment("Calls with this customer.").
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes keeps one contact per platform identity and campaign.
func (Contact) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("campaign_id", "platform", "external_id").Unique(),
	}
}

// Annotations exposes contacts with a paginated query.
func (Contact) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
	}
}
