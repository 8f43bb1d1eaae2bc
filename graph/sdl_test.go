package graph_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/graph"
)

// The published schema is valid SDL on its own, names every root field the
// server has, and shows no gqlgen code generation directives.
func TestPublishedSchema(t *testing.T) {
	sdl := graph.SDL()
	for _, d := range []string{"@goField", "@goModel", "directive @go"} {
		if strings.Contains(sdl, d) {
			t.Errorf("the published schema shows %s", d)
		}
	}
	parsed, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: sdl})
	if err != nil {
		t.Fatalf("the published schema does not load: %v", err)
	}
	full := graph.NewExecutableSchema(graph.Config{}).Schema()
	for _, root := range []string{"Query", "Mutation", "Subscription"} {
		for _, f := range full.Types[root].Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if parsed.Types[root].Fields.ForName(f.Name) == nil {
				t.Errorf("%s.%s is missing from the published schema", root, f.Name)
			}
		}
	}
}

// Introspection shows clients the same schema: no code generation
// directive among __schema.directives.
func TestIntrospectionHidesCodegenDirectives(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user(user.RoleMEMBER)
	r := e.as(tok, `{ __schema { directives { name } } }`, nil)
	var names []string
	for _, d := range dig(r, "__schema.directives").([]any) {
		names = append(names, d.(map[string]any)["name"].(string))
	}
	if !slices.Contains(names, "include") {
		t.Fatalf("introspection lists %v, not even @include", names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "go") {
			t.Errorf("introspection lists @%s", n)
		}
	}
}

// Every list of Query says what it lists, in the SPA's words.
func TestQueryListsAreDescribed(t *testing.T) {
	q := graph.NewExecutableSchema(graph.Config{}).Schema().Query
	for _, f := range q.Fields {
		list := f.Type.Elem != nil || strings.HasSuffix(f.Type.Name(), "Connection")
		if list && !strings.HasPrefix(f.Name, "__") && strings.TrimSpace(f.Description) == "" {
			t.Errorf("Query.%s has no description", f.Name)
		}
	}
}
