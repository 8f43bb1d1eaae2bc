package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/rule"
)

// Campaign is a business's unit of work: its channels, conversations and calls.
type Campaign struct {
	ent.Schema
}

// Mixin returns the id and timestamp mixins.
func (Campaign) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("cmp"), TimeMixin{}}
}

// Fields returns the campaign's fields.
func (Campaign) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			NotEmpty().
			MaxLen(200).
			Comment("Name shown in the campaign list.").
			Annotations(entgql.OrderField("NAME")),
		field.String("description").
			Default("").
			MaxLen(5000).
			Comment("Free text describing the campaign's purpose."),
		field.Time("archived_at").
			Optional().
			Nillable().
			Comment("When the campaign was archived; archived campaigns keep all their data.").
			Annotations(entgql.OrderField("ARCHIVED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges returns everything a campaign owns.
func (Campaign) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("members", CampaignMember.Type).
			Comment("Users who work in this campaign, with their roles.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("connections", Connection.Type).
			Comment("Channels (pages, bots, official accounts, numbers) connected to this campaign.").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("contacts", Contact.Type).
			Comment("Customers who wrote to or were called from this campaign.").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("conversations", Conversation.Type).
			Comment("Conversations on this campaign's channels.").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("messages", Message.Type).
			Comment("Every message of the campaign; read them through conversations.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("calls", Call.Type).
			Comment("Phone calls logged by the campaign's agents.").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("tags", Tag.Type).
			Comment("Labels agents put on conversations.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("webhook_events", WebhookEvent.Type).
			Comment("Inbound webhook journal of this campaign's connections.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("call_events", CallEvent.Type).
			Comment("The softphone events of the campaign's calls; read them through calls.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("widget_stats", WidgetStat.Type).
			Comment("Counts of the Zalo widget's browser actions; read them through zaloWidget.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations exposes campaigns with a paginated query and create/update inputs.
func (Campaign) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField().Description("The campaigns the viewer may read: every one for an administrator, those the viewer is a member of otherwise."),
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy applies the campaign access rules (see package rule).
func (Campaign) Policy() ent.Policy {
	return privacy.Policy{Query: rule.ReadPolicy(), Mutation: rule.CampaignPolicy()}
}
