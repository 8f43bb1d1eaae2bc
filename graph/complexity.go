package graph

import (
	"reflect"

	"entgo.io/contrib/entgql"

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
				n = max(n, 1)
				return []reflect.Value{reflect.ValueOf(1 + n*max(child, 1))}
			}))
		}
	}
}

func isConnectionField(t reflect.Type) bool {
	return t.NumIn() >= 5 && t.NumOut() == 1 &&
		t.In(0).Kind() == reflect.Int && t.In(1) == cursorType && t.In(2) == intPtrType &&
		t.In(3) == cursorType && t.In(4) == intPtrType && t.Out(0).Kind() == reflect.Int
}
