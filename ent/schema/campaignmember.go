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

// CampaignMember grants a user a role in one campaign.
type CampaignMember struct {
	ent.Schema
}

// Mixin returns the id and timestamp mixins.
func (CampaignMember) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("cmm"), TimeMixin{}, inCampaign("members", rule.Manager)}
}

// Fields returns the membership's fields.
func (CampaignMember) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).Immutable().Comment("The member."),
		field.Enum("role").
			Values("MANAGER", "AGENT").
			Comment("MANAGER manages connections and members; AGENT reads and replies."),
	}
}

// Edges returns the campaign and the user.
func (CampaignMember) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("memberships").Field("user_id").Unique().Required().Immutable().
			Comment("The member."),
	}
}

// Indexes keeps one membership per user and campaign.
func (CampaignMember) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("campaign_id", "user_id").Unique(),
		index.Fields("user_id"),
	}
}

// Annotations exposes memberships as GraphQL nodes.
func (CampaignMember) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput)}
}
