package graph

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"

	"github.com/switchboard-chat/switchboard/auth"
)

// Two agents share an event's encoding only where they would see the same
// bytes: the same document and variables, the same administrator standing,
// and, when users are selected (a member sees only the users it shares a
// campaign with), the same user.
func TestSubscriptionShapes(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	shape := func(query string, vars map[string]any, v *auth.Viewer) string {
		t.Helper()
		doc, errs := gqlparser.LoadQueryWithRules(schema, query, nil)
		if errs != nil {
			t.Fatalf("%s: %v", query, errs)
		}
		rc := &graphql.OperationContext{RawQuery: query, Doc: doc, Operation: doc.Operations[0], Variables: vars}
		return shapeOf(auth.WithViewer(context.Background(), v), rc)
	}
	a, b := &auth.Viewer{UserID: "usr_a"}, &auth.Viewer{UserID: "usr_b"}
	admin := &auth.Viewer{UserID: "usr_c", Admin: true}
	plain := `subscription($c: ID!) { messageAdded(campaignID: $c) { id text conversation { id contact { name } } } }`
	users := `subscription($c: ID!) { messageAdded(campaignID: $c) { id conversation { assignee { email } } } }`
	spread := `subscription($c: ID!) { messageAdded(campaignID: $c) { ...M } } fragment M on Message { conversation { assignee { id } } }`
	c1, c2 := map[string]any{"c": "cmp_1"}, map[string]any{"c": "cmp_2"}

	if shape(plain, c1, a) != shape(plain, c1, b) {
		t.Error("two members with the same subscription do not share")
	}
	if shape(plain, c1, a) == shape(plain, c2, a) {
		t.Error("different variables share")
	}
	if shape(plain, c1, a) == shape(plain, c1, admin) {
		t.Error("an administrator shares with a member")
	}
	for _, q := range []string{users, spread} {
		if shape(q, c1, a) == shape(q, c1, b) {
			t.Errorf("a subscription selecting users shares between two users: %s", q)
		}
		first, again := shape(q, c1, a), shape(q, c1, a)
		if first != again {
			t.Errorf("one user's sockets do not share: %s", q)
		}
	}
}
