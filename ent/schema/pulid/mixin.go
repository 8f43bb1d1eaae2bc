package pulid

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// Mixin gives an entity a prefixed ULID primary key.
type Mixin struct {
	mixin.Schema
	prefix string
}

// WithPrefix returns the id mixin for an entity whose ids start with prefix.
func WithPrefix(prefix string) Mixin { return Mixin{prefix: prefix} }

// Fields returns the id field.
func (m Mixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			GoType(ID("")).
			DefaultFunc(func() ID { return New(m.prefix) }).
			Immutable().
			Comment("Globally unique, opaque identifier: a type prefix and a ULID."),
	}
}

// Annotations records the prefix for the code generator (see template/pulid.tmpl).
func (m Mixin) Annotations() []schema.Annotation {
	return []schema.Annotation{Annotation{Prefix: m.prefix}}
}

// Annotation carries an entity's id prefix into code generation.
type Annotation struct {
	Prefix string
}

// Name implements schema.Annotation.
func (Annotation) Name() string { return "PULID" }
