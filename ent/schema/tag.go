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
)

// Tag is a label agents put on conversations, defined per campaign.
type Tag struct {
	ent.Schema
}

// Mixin returns the id and timestamp mixins.
func (Tag) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("tag"), TimeMixin{}, inCampaign("tags", rule.Manager)}
}

// Fields returns the tag's fields.
func (Tag) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100).Comment("The label.").Annotations(entgql.OrderField("NAME")),
		field.String("color").Default("#9ca3af").MaxLen(32).Comment("Display colour, e.g. #3b82f6."),
	}
}

// Edges returns the campaign and the tagged conversations.
func (Tag) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("conversations", Conversation.Type).Ref("tags").
			Comment("Conversations carrying the tag."),
	}
}

// Indexes keep tag names unique within a campaign.
func (Tag) Indexes() []ent.Index {
	return []ent.Index{index.Fields("campaign_id", "name").Unique()}
}

// Annotations exposes tags as GraphQL nodes.
func (Tag) Annotations() []schema.Annotation {
	return []schema.Annotation{}
}
