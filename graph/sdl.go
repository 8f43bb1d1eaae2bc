package graph

import (
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
)

// codegenDirectives steer gqlgen's code generation and mean nothing to a
// client, so the published schema leaves them out.
var codegenDirectives = []string{"goField", "goModel", "goTag", "goExtraField", "goEnum"}

// SDL is the schema as clients see it, in the schema definition language:
// what `switchboard schema` prints and schema.graphql holds.
func SDL() string {
	src := NewExecutableSchema(Config{}).Schema()
	// A shallow copy with the code generation directives taken out, so the
	// executable schema itself is left as it is.
	s := *withoutCodegenDirectives(src)
	s.Types = map[string]*ast.Definition{}
	for name, def := range src.Types {
		d := *def
		d.Directives = withoutCodegen(def.Directives)
		d.Fields = make(ast.FieldList, len(def.Fields))
		for i, f := range def.Fields {
			fc := *f
			fc.Directives = withoutCodegen(f.Directives)
			d.Fields[i] = &fc
		}
		s.Types[name] = &d
	}
	var b strings.Builder
	formatter.NewFormatter(&b, formatter.WithIndent("  ")).FormatSchema(&s)
	return b.String()
}

func withoutCodegen(ds ast.DirectiveList) ast.DirectiveList {
	var out ast.DirectiveList
	for _, d := range ds {
		if !slices.Contains(codegenDirectives, d.Name) {
			out = append(out, d)
		}
	}
	return out
}

// withoutCodegenDirectives is a shallow copy of a schema without the
// definitions of gqlgen's code generation directives, which introspection
// would otherwise list (__schema.directives). Where they are applied stays:
// introspection does not show applied directives.
func withoutCodegenDirectives(src *ast.Schema) *ast.Schema {
	s := *src
	s.Directives = map[string]*ast.DirectiveDefinition{}
	for name, d := range src.Directives {
		if !slices.Contains(codegenDirectives, name) {
			s.Directives[name] = d
		}
	}
	return &s
}
