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
		field.Enum("channel").
			Values("TELEGRAM", "FACEBOOK", "ZALO", "WHATSAPP", "PHONE").
			Immutable().
			Comment("How the customer is reached: a chat platform, or PHONE for a customer known only by a call."),
		field.Enum("platform").
			GoType(schematype.Platform("")).
			Annotations(entgql.Type("Platform")).
			Optional().
			Nillable().
			Immutable().
			Comment("The chat platform the customer is on; null for a PHONE contact."),
		field.String("external_id").
			NotEmpty().
			Immutable().
			Comment("The id used to reply: Telegram chat id, Facebook PSID, Zalo sender.id, WhatsApp wa_id; the phone number in E.164 for a PHONE contact."),
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
		field.Time("consent_granted_at").
			Optional().
			Nillable().
			Comment("When the customer let the OA contact them (Zalo's interaction widget).").
			Annotations(entgql.Skip(entgql.SkipType)),
		field.String("customer_id_sync_error").
			Optional().
			Comment("Why Zalo could not sync the business's customer id, when it could not.").
			Annotations(entgql.Skip(entgql.SkipType)),
		field.Bool("following").
			Optional().
			Nillable().
			Comment("Whether the customer follows the account (Zalo follow / unfollow); null when unknown."),
		field.Time("following_changed_at").
			Optional().
			Nillable().
			Comment("When the customer last followed or unfollowed."),
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

// Indexes keep one contact per identity and campaign.
func (Contact) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("campaign_id", "channel", "external_id").Unique(),
		// Calls find their customer by phone number.
		index.Fields("campaign_id", "phone"),
	}
}

// Annotations exposes contacts with a paginated query.
func (Contact) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField().Description("The customers who wrote to the campaigns the viewer may read; where filters them."),
		entgql.RelayConnection(),
	}
}
