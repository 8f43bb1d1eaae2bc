package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/rule"
)

// WidgetStat counts one browser action of a connection's Zalo interaction
// widget (loaded, clicked, followed, ...). The counts come from public web
// pages, so they are statistics, never proof of consent.
type WidgetStat struct {
	ent.Schema
}

// Mixin returns the id mixin and the campaign.
func (WidgetStat) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("wst"), inCampaign("widget_stats", rule.Manager, entgql.Skip(entgql.SkipAll))}
}

// Fields returns the counter's fields.
func (WidgetStat) Fields() []ent.Field {
	return []ent.Field{
		field.String("connection_id").GoType(pulid.ID("")).Immutable().Comment("The Zalo connection whose widget it is."),
		field.String("action").Immutable().Comment("loaded_successfully, click_interaction_accepted, click_followed, dismiss_follow, updated_follow_widget."),
		field.Int64("count").Default(0).Comment("How many times browsers reported it."),
		field.Time("last_at").Default(time.Now).Comment("When it was last reported."),
	}
}

// Indexes keep one counter per action.
func (WidgetStat) Indexes() []ent.Index {
	return []ent.Index{index.Fields("connection_id", "action").Unique()}
}

// Annotations: counters are reached through zaloWidget.
func (WidgetStat) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
