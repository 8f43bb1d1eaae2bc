package graph_test

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

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
