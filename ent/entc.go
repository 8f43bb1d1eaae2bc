//go:build ignore

// entc.go generates the ent client and the GraphQL schema of the entities.
// Run through `go generate ./...` from the module root (see generate.go).
package main

import (
	"fmt"
	"log"
	"regexp"
	"strings"

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
		entgql.WithSchemaHook(defaultOrders, webhookLogFilter, whereInputs),
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

// whereInputs keeps, in each generated where input, the predicates that
// mean something to an SPA, and describes the filters in its words rather
// than ent's ("campaign_id field predicates"). Ids, ours and the
// platforms', are opaque: they are matched whole (equal, one of a list,
// set or not), never ordered or searched as text. Other text is searched
// but not ordered: alphabetical ranges are nobody's filter.
func whereInputs(g *gen.Graph, s *ast.Schema) error {
	group := regexp.MustCompile(`^(\S+) (field|edge) predicates$`)
	opaque := map[string]bool{"": true, "NEQ": true, "In": true, "NotIn": true, "IsNil": true, "NotNil": true}
	ordering := map[string]bool{"GT": true, "GTE": true, "LT": true, "LTE": true}
	for _, n := range g.Nodes {
		def := s.Types[n.Name+"WhereInput"]
		if def == nil {
			continue
		}
		def.Description = fmt.Sprintf("Filters %s: every field given must hold; `not`, `and` and `or` combine filters. "+
			"A field's suffix says how it compares: none (equals), NEQ, In, NotIn, GT/GTE/LT/LTE (after or before, "+
			"greater or less), Contains, HasPrefix, HasSuffix, EqualFold (equals ignoring case), ContainsFold, "+
			"IsNil/NotNil (unset or set); hasX and hasXWith filter by what the X edge leads to.", plural(n.Name))
		var (
			kept ast.FieldList
			base string            // the current group's field without suffix
			keep func(string) bool // whether a suffix of the group stays
		)
		for _, fd := range def.Fields {
			m := group.FindStringSubmatch(fd.Description)
			switch {
			case m != nil && m[2] == "field":
				f := n.ID
				if m[1] != "id" {
					f = fieldNamed(n, m[1])
				}
				if f == nil {
					return fmt.Errorf("%s: no field %s", def.Name, m[1])
				}
				base = fd.Name
				switch {
				case fd.Type.Name() == "ID" || strings.HasSuffix(f.Name, "_id"):
					keep = func(suffix string) bool { return opaque[suffix] }
				case f.IsString():
					keep = func(suffix string) bool { return !ordering[suffix] }
				default:
					keep = func(string) bool { return true }
				}
				fd.Description = describe(fd.Name, f.Comment())
			case m != nil:
				base, keep = "", nil
				edge := strings.TrimPrefix(fd.Name, "has")
				fd.Description = fmt.Sprintf("Filter by %s: whether there are any (has%sWith: any that match the filters given).",
					strings.ReplaceAll(m[1], "_", " "), edge)
			}
			if keep != nil && strings.HasPrefix(fd.Name, base) && !keep(strings.TrimPrefix(fd.Name, base)) {
				continue
			}
			kept = append(kept, fd)
		}
		def.Fields = kept
	}
	return nil
}

func fieldNamed(n *gen.Type, name string) *gen.Field {
	for _, f := range n.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// describe says what a filter's field is, from the ent field's comment.
func describe(name, comment string) string {
	if comment == "" {
		return "Filter by " + name + "."
	}
	// Lower the first word unless it is a name (OmiCall), an acronym or an
	// enum value (ACTIVE).
	if first, _, _ := strings.Cut(comment, " "); strings.ToLower(first[1:]) == first[1:] {
		comment = strings.ToLower(comment[:1]) + comment[1:]
	}
	return "Filter by " + name + ": " + comment
}

// plural names a type's objects in lower case: CallEvent -> call events.
func plural(name string) string {
	words := regexp.MustCompile(`[A-Z][a-z]*`).FindAllString(name, -1)
	out := strings.ToLower(strings.Join(words, " "))
	if strings.HasSuffix(out, "s") {
		return out + "es"
	}
	return out + "s"
}
