package graph

import (
	"context"
	"math"
	"reflect"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// unpaginatedWeight is the number of items a list without first/last is
// assumed to return when costing a query.
const unpaginatedWeight = 100

var (
	cursorType = reflect.TypeOf((*entgql.Cursor[pulid.ID])(nil))
	intPtrType = reflect.TypeOf((*int)(nil))
)

// costPagination makes every Relay connection field cost its page size times
// the cost of one item, so that nested pages (campaigns × conversations ×
// messages) are priced by the rows they can return. gqlgen's default prices
// a list like a single object. Every generated connection has the signature
// (childComplexity, after, first, before, last, ...), which is what is matched
// here, so new connections are covered without being listed.
func costPagination(root *ComplexityRoot) {
	types := reflect.ValueOf(root).Elem()
	for i := 0; i < types.NumField(); i++ {
		fields := types.Field(i)
		for j := 0; j < fields.NumField(); j++ {
			f := fields.Field(j)
			if f.Kind() != reflect.Func || !isConnectionField(f.Type()) {
				continue
			}
			f.Set(reflect.MakeFunc(f.Type(), func(args []reflect.Value) []reflect.Value {
				child := int(args[0].Int())
				n := unpaginatedWeight
				for _, arg := range []reflect.Value{args[2], args[4]} {
					if !arg.IsNil() {
						n = int(arg.Elem().Int())
					}
				}
				return []reflect.Value{reflect.ValueOf(listCost(n, child))}
			}))
		}
	}
	// nodes(ids:) fetches one object per id: priced like a page of len(ids).
	root.Query.Nodes = func(child int, ids []pulid.ID) int { return listCost(len(ids), child) }
}

// listCost is the cost of a list of n items each costing child, saturating
// at math.MaxInt: a product that wrapped around would come out small or
// negative (gqlgen then falls back to a cost of 1), which let
// first: 715827883 inside first: 2147483646 pass as cheap.
func listCost(n, child int) int {
	return satAdd(1, satMul(max(n, 1), max(child, 1)))
}

func satAdd(a, b int) int {
	if a < 0 || b < 0 {
		return max(a, b, 0)
	}
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func satMul(a, b int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > math.MaxInt/b {
		return math.MaxInt
	}
	return a * b
}

func isConnectionField(t reflect.Type) bool {
	return t.NumIn() >= 5 && t.NumOut() == 1 &&
		t.In(0).Kind() == reflect.Int && t.In(1) == cursorType && t.In(2) == intPtrType &&
		t.In(3) == cursorType && t.In(4) == intPtrType && t.Out(0).Kind() == reflect.Int
}

// complexityLimit refuses operations that cost more than limit. It is
// gqlgen's extension.ComplexityLimit but for one thing: a fragment is costed
// once, and that cost reused wherever it is spread. gqlgen walks a fragment
// again at every spread, so a kilobyte of fragments each spreading the next
// twice (F0 { ...F1 ...F1 } F1 { ...F2 ...F2 } …) took seconds to cost, and
// minutes a few lines later: CPU anyone could spend, the cost being computed
// before any field checks the caller's token.
type complexityLimit struct {
	limit int
	es    graphql.ExecutableSchema
}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = &complexityLimit{}

// ExtensionName keeps gqlgen's name, so extension.GetComplexityStats works.
func (c *complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	w := costWalker{es: c.es, schema: c.es.Schema(), vars: opCtx.Variables, fragments: map[*ast.FragmentDefinition]int{}}
	cost := w.selectionSet(ctx, opCtx.Operation.SelectionSet)
	// A subscription holds its operation context for as long as the
	// socket stays open (hours, thousands of them): its stats are not
	// worth the map they would keep.
	if opCtx.Operation.Operation != ast.Subscription {
		opCtx.Stats.SetExtension(c.ExtensionName(), &extension.ComplexityStats{Complexity: cost, ComplexityLimit: c.limit})
	}
	if cost > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", cost, c.limit)
		errcode.Set(err, "COMPLEXITY_LIMIT_EXCEEDED")
		return err
	}
	return nil
}

// costWalker follows gqlgen's complexity rules (complexity.Calculate) with
// the cost of each fragment remembered.
type costWalker struct {
	es        graphql.ExecutableSchema
	schema    *ast.Schema
	vars      map[string]any
	fragments map[*ast.FragmentDefinition]int // -1 while being costed
}

func (w costWalker) selectionSet(ctx context.Context, set ast.SelectionSet) int {
	total := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			total = satAdd(total, w.field(ctx, s))
		case *ast.InlineFragment:
			total = satAdd(total, w.selectionSet(ctx, s.SelectionSet))
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			cost, ok := w.fragments[s.Definition]
			if !ok {
				w.fragments[s.Definition] = -1 // a cycle (refused by validation) costs nothing more
				cost = w.selectionSet(ctx, s.Definition.SelectionSet)
				w.fragments[s.Definition] = cost
			}
			total = satAdd(total, max(cost, 0))
		}
	}
	return total
}

func (w costWalker) field(ctx context.Context, f *ast.Field) int {
	if f.Definition == nil || f.ObjectDefinition == nil {
		return 1
	}
	typ := w.schema.Types[f.Definition.Type.Name()]
	if typ == nil || typ.Name == "__Schema" {
		return 0 // introspection has its own depth rule in the validator
	}
	child := 0
	switch typ.Kind {
	case ast.Object, ast.Interface, ast.Union:
		child = w.selectionSet(ctx, f.SelectionSet)
	}
	args := f.ArgumentMap(w.vars)
	if f.ObjectDefinition.Kind != ast.Interface {
		return w.fieldCost(ctx, f.ObjectDefinition, typ.Kind, f.Name, child, args)
	}
	// An interface's field costs what its most expensive implementation does.
	worst := 0
	for _, impl := range w.schema.GetPossibleTypes(f.ObjectDefinition) {
		worst = max(worst, w.fieldCost(ctx, impl, typ.Kind, f.Name, child, args))
	}
	return worst
}

func (w costWalker) fieldCost(ctx context.Context, obj *ast.Definition, kind ast.DefinitionKind, name string, child int, args map[string]any) int {
	if cost, ok := w.es.Complexity(ctx, obj.Name, name, child, args); ok && cost >= 1 {
		return cost
	}
	return satAdd(1, child)
}
