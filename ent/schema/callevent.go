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

// CallEvent is one callback of the OmiCall web SDK for a call, kept as it
// came: the call's history, and what its state was derived from.
type CallEvent struct {
	ent.Schema
}

// Mixin returns the id mixin and the campaign.
func (CallEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("cev"), inCampaign("call_events", rule.Member, entgql.Skip(entgql.SkipAll))}
}

// Fields returns the event's fields.
func (CallEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("call_id").GoType(pulid.ID("")).Immutable().Comment("The call."),
		field.String("event").Immutable().Comment("The SDK callback's name: connecting, ringing, accepted, incall, ended, ..."),
		field.JSON("data", map[string]any{}).Immutable().Comment("The SDK's object, untouched.").
			Annotations(entgql.Type("JSON")),
		field.Time("received_at").Default(time.Now).Immutable().Comment("When Switchboard received it.").
			Annotations(entgql.OrderField("RECEIVED_AT")),
	}
}

// Edges returns the call.
func (CallEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("call", Call.Type).Ref("events").Field("call_id").Unique().Required().Immutable().
			Comment("The call."),
	}
}

// Indexes serve a call's history, oldest first.
func (CallEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("call_id", "received_at")}
}

// Annotations make events a Relay connection of calls.
func (CallEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
