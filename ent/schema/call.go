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

// Call is one phone call made or taken with the OmiCall web softphone, kept as a
// single record per OmiCall transaction uuid.
type Call struct {
	ent.Schema
}

// Mixin returns the id and timestamp mixins.
func (Call) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("cal"), TimeMixin{}, inCampaign("calls", rule.Member)}
}

// Fields returns the call's fields, named after the OmiCall callback data.
func (Call) Fields() []ent.Field {
	return []ent.Field{
		field.String("contact_id").GoType(pulid.ID("")).Optional().Nillable().Comment("The customer, when known."),
		field.String("conversation_id").GoType(pulid.ID("")).Optional().Nillable().Comment("The conversation the call belongs to, if any."),
		field.String("agent_id").GoType(pulid.ID("")).Optional().Nillable().Comment("The agent on the call."),
		field.String("uuid").
			NotEmpty().
			Immutable().
			Comment("OmiCall's transaction id of the call."),
		field.Enum("direction").
			Values("INBOUND", "OUTBOUND").
			Comment("OmiCall direction: inbound or outbound."),
		field.Enum("status").
			Values("CONNECTING", "RINGING", "CONNECTED", "HOLD", "ENDED").
			Default("CONNECTING").
			Comment("OmiCall status of the call.").
			Annotations(entgql.OrderField("STATUS")),
		field.String("remote_number").
			Default("").
			Comment("The customer's number (OmiCall remoteNumber / phone)."),
		field.String("sip_number").
			Default("").
			Comment("The agent's extension (OmiCall sipNumber)."),
		field.Time("started_at").
			Optional().
			Nillable().
			Comment("OmiCall startTime.").
			Annotations(entgql.OrderField("STARTED_AT")),
		field.Time("answered_at").
			Optional().
			Nillable().
			Comment("OmiCall answerTime."),
		field.Time("ended_at").
			Optional().
			Nillable().
			Comment("OmiCall endTime."),
		field.Int("duration").
			Default(0).
			NonNegative().
			Comment("Talk time in seconds (OmiCall duration)."),
		field.Int("total_duration").
			Default(0).
			NonNegative().
			Comment("Ringing plus talk time in seconds (OmiCall totalDuration)."),
		field.String("end_cause").
			Optional().
			Comment("OmiCall endCause: BUSY, NO_ANSWER, TRIAL_REJECTION, LIMITATION_DECLINE, ALLOTTED_TIMEOUT, ..."),
		field.Bool("answered_elsewhere").
			Default(false).
			Comment("Answered on another device or by a colleague (acceptedByOther)."),
		field.Bool("missed").
			Default(false).
			Comment("Nobody answered: rejected, or ended without an answer."),
		field.Time("announced_at").
			Optional().
			Nillable().
			Comment("When the call last went to the event log; incall ticks go at most every few seconds.").
			Annotations(entgql.Skip()),
	}
}

// Edges returns the call's relations.
func (Call) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("contact", Contact.Type).Ref("calls").Field("contact_id").Unique().
			Comment("The customer."),
		edge.From("conversation", Conversation.Type).Ref("calls").Field("conversation_id").Unique().
			Comment("The conversation."),
		edge.To("agent", User.Type).Field("agent_id").Unique().
			Comment("The agent on the call."),
		edge.To("events", CallEvent.Type).
			Comment("The softphone's callbacks for this call, as received.").
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes serve the call list of a campaign.
func (Call) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("campaign_id", "created_at"),
		// One call per OmiCall uuid in a campaign: events repeat and race.
		index.Fields("campaign_id", "uuid").Unique(),
	}
}

// Annotations exposes calls with a paginated query.
func (Call) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField().Description("Calls logged with logCall (the OmiCall softphone's events) in the campaigns the viewer may read, oldest first unless orderBy says otherwise; where filters them."),
		entgql.RelayConnection(),
	}
}
