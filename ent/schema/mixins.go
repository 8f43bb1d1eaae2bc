package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/rule"
)

// TimeMixin records when a row was created and last changed.
type TimeMixin struct {
	mixin.Schema
}

// Fields returns created_at and updated_at.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Comment("When the row was created.").
			Annotations(entgql.OrderField("CREATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("updated_at").
			Default(time.Now).
			UpdateDefault(time.Now).
			Comment("When the row was last changed.").
			Annotations(entgql.OrderField("UPDATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// campaignScoped belongs an entity to a campaign: the immutable campaign_id
// column, the campaign edge, and the access rules of package rule (reads by
// the campaign's members; writes by members holding role).
type campaignScoped struct {
	mixin.Schema
	ref         string
	role        rule.Role
	annotations []schema.Annotation
}

// inCampaign returns the campaignScoped mixin; ref names the campaign's edge
// back to the entity.
func inCampaign(ref string, role rule.Role, edgeAnnotations ...schema.Annotation) campaignScoped {
	return campaignScoped{ref: ref, role: role, annotations: edgeAnnotations}
}

// Fields returns campaign_id.
func (m campaignScoped) Fields() []ent.Field {
	return []ent.Field{
		field.String("campaign_id").GoType(pulid.ID("")).Immutable().Comment("The campaign the row belongs to."),
	}
}

// Edges returns the campaign edge.
func (m campaignScoped) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("campaign", Campaign.Type).Ref(m.ref).Field("campaign_id").Unique().Required().Immutable().
			Comment("The campaign the row belongs to.").
			Annotations(m.annotations...),
	}
}

// Policy returns the campaign access rules.
func (m campaignScoped) Policy() ent.Policy {
	return privacy.Policy{Query: rule.ReadPolicy(), Mutation: rule.WritePolicy(m.role)}
}
