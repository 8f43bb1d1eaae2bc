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

// User is a person who signs in: an administrator or a member of campaigns.
type User struct {
	ent.Schema
}

// Mixin returns the id and timestamp mixins.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.WithPrefix("usr"), TimeMixin{}}
}

// Fields returns the user's fields.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").
			Unique().
			NotEmpty().
			MaxLen(320).
			Comment("Sign-in address, stored lower-cased so uniqueness ignores case.").
			Annotations(entgql.OrderField("EMAIL")),
		field.String("name").
			NotEmpty().
			MaxLen(200).
			Comment("Display name shown to other agents.").
			Annotations(entgql.OrderField("NAME")),
		field.String("password_hash").
			Sensitive().
			NotEmpty().
			Comment("bcrypt hash of the password; never leaves the server.").
			Annotations(entgql.Skip()),
		field.Enum("role").
			Values("ADMIN", "MEMBER").
			Default("MEMBER").
			Comment("ADMIN sees and manages everything; MEMBER only the campaigns it belongs to."),
		field.Time("deactivated_at").
			Optional().
			Nillable().
			Comment("When an administrator deactivated the account: it cannot sign in, and its tokens and sockets stop working."),
		field.Int("session_epoch").
			Default(0).
			Comment("Tokens carry the epoch they were issued in; ending every session (a password change, a deactivation) moves it on, so older tokens stop working, except kept_session's.").
			Annotations(entgql.Skip()),
		field.String("kept_session").
			Optional().
			Sensitive().
			Comment("The token id that a password change left signed in: the session that changed it.").
			Annotations(entgql.Skip()),
		field.String("softphone_domain").
			Optional().
			Comment("The OmiCall domain the user's softphone registers with.").
			Annotations(entgql.Skip()),
		field.String("softphone_username").
			Optional().
			Comment("The OmiCall SIP username of the user's softphone.").
			Annotations(entgql.Skip()),
		field.Bytes("softphone_secret").
			Optional().
			Sensitive().
			Comment("The softphone password, sealed like channel credentials; only its user ever reads it back.").
			Annotations(entgql.Skip()),
		field.Int("access_version").
			Default(0).
			Comment("Bumped whenever what the user may see changes (role, memberships, deactivation), so long-lived subscriptions re-check access cheaply.").
			Annotations(entgql.Skip()),
	}
}

// Edges returns the user's campaign memberships.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("memberships", CampaignMember.Type).
			Comment("The campaigns this user belongs to, with a role in each."),
	}
}

// Annotations exposes users as GraphQL nodes with a users query.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField().Description("The users the viewer may see; administrators see every one."),
		entgql.RelayConnection(),
	}
}

// Policy applies the campaign access rules (see package rule).
func (User) Policy() ent.Policy {
	return privacy.Policy{Query: rule.ReadPolicy(), Mutation: rule.UserPolicy()}
}
