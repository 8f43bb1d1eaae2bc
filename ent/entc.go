//go:build ignore

// entc.go generates the ent client and the GraphQL schema of the entities.
// Run through `go generate ./...` from the module root (see generate.go).
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ext, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("graph/ent.graphqls"),
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithNodeDescriptor(false),
		entgql.WithSchemaHook(defaultOrders, webhookLogFilter),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	templates := append(entgql.AllTemplates,
		gen.MustParse(gen.NewTemplate("pulid").ParseFiles("ent/schema/pulid/template/pulid.tmpl")))
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:    "ent",
		Package:   "github.com/switchboard-chat/switchboard/ent",
		Templates: templates,
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureIntercept,
			gen.FeatureUpsert,
			gen.FeatureExecQuery,
			gen.FeatureLock,
			gen.FeatureModifier,
			gen.FeatureNamedEdges,
			gen.FeatureVersionedMigration,
		},
	}, entc.Extensions(ext))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// defaultOrders writes the default sort of conversation and message lists into
// the schema as argument defaults, so clients see it in introspection and the
// eager loading of entgql (which reads arguments, defaults included) and the
// resolvers agree: conversations newest activity first, messages oldest first
// by platform time then arrival (so `last: N` is the newest N).
func defaultOrders(_ *gen.Graph, s *ast.Schema) error {
	defaults := map[string]*ast.Value{
		"ConversationConnection": orderValue("LAST_MESSAGE_AT", "DESC"),
		"MessageConnection":      orderValue("POSITION", "ASC"),
		"WebhookEventConnection": orderValue("RECEIVED_AT", "DESC"),
	}
	for _, def := range s.Types {
		for _, f := range def.Fields {
			v, ok := defaults[f.Type.Name()]
			if !ok {
				continue
			}
			if arg := f.Arguments.ForName("orderBy"); arg != nil {
				arg.DefaultValue = v
			}
		}
	}
	return nil
}

func orderValue(field, direction string) *ast.Value {
	return &ast.Value{Kind: ast.ObjectValue, Children: ast.ChildValueList{
		{Name: "direction", Value: &ast.Value{Kind: ast.EnumValue, Raw: direction}},
		{Name: "field", Value: &ast.Value{Kind: ast.EnumValue, Raw: field}},
	}}
}

// webhookLogFilter adds connectionID to Query.webhookEvents: the Integration
// tab's "View Logs" lists one connection's journal.
func webhookLogFilter(_ *gen.Graph, s *ast.Schema) error {
	q := s.Types["Query"]
	if q == nil {
		return nil
	}
	if f := q.Fields.ForName("webhookEvents"); f != nil {
		f.Arguments = append(ast.ArgumentDefinitionList{{
			Name:        "connectionID",
			Description: "Only the events of this connection.",
			Type:        ast.NamedType("ID", nil),
		}}, f.Arguments...)
	}
	return nil
}
