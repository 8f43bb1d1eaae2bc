package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/config"
)

// anonymous posts query to h without a token and returns the first error's code.
func anonymous(t *testing.T, h http.Handler, query string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out struct {
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Errors) == 0 {
		t.Fatalf("%s: %d %s", query, rec.Code, rec.Body)
	}
	code, _ := out.Errors[0].Extensions["code"].(string)
	return code
}

// Costs multiply along nested pages; products too large for an int must
// count as too expensive, not wrap around to a small number. The page limit
// is lifted here, or it would refuse these queries first.
func TestComplexityDoesNotOverflow(t *testing.T) {
	h := NewHandler(Options{Limits: config.Limits{MaxPage: math.MaxInt32, MaxNodes: 100000, AnonBurst: 1 << 20}})
	for _, q := range []string{
		`{ campaigns(first: 4) { edges { node { conversations(first: 715827883) { edges { node { messages(first: 2147483646) { edges { node { text } } } } } } } } } }`,
		`{ campaigns(first: 2147483647) { edges { node { conversations(first: 2147483647) { edges { node { messages(first: 2147483647) {
			edges { node { conversation { messages(first: 2147483647) { totalCount } } } } } } } } } } } }`,
	} {
		if code := anonymous(t, h, q); code != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("%s: %s, want COMPLEXITY_LIMIT_EXCEEDED", q, code)
		}
	}
}

// nodes(ids:) fetches one object per id, and is priced so.
func TestNodesArePricedPerID(t *testing.T) {
	h := NewHandler(Options{Limits: config.Limits{MaxNodes: 100000, AnonBurst: 1 << 20}})
	ids := `"x"` + strings.Repeat(`, "x"`, 199)
	q := `{ nodes(ids: [` + ids + `]) { ... on Campaign { conversations(first: 100) { totalCount } } } }`
	if code := anonymous(t, h, q); code != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("200 ids of 100 conversations each: %s, want COMPLEXITY_LIMIT_EXCEEDED", code)
	}
}

// Costing a fragment once, however often it is spread, keeps costing linear
// in the document: walking 40 fragments that each spread the next twice
// would not end.
func TestComplexityCostsEachFragmentOnce(t *testing.T) {
	cfg := Config{Resolvers: &Resolver{}}
	costPagination(&cfg.Complexity)
	es := NewExecutableSchema(cfg)
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := range 40 {
		fmt.Fprintf(&b, "fragment F%d on Query { a: __typename ...F%d ...F%d }\n", i, i+1, i+1)
	}
	b.WriteString("fragment F40 on Query { __typename }\n")
	doc, err := parser.ParseQuery(&ast.Source{Input: b.String()})
	if err != nil {
		t.Fatal(err)
	}
	if errs := validator.ValidateWithRules(es.Schema(), doc, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	c := &complexityLimit{limit: DefaultComplexityLimit}
	if err := c.Validate(es); err != nil {
		t.Fatal(err)
	}
	opCtx := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0], Variables: map[string]any{}}
	gerr := c.MutateOperationContext(context.Background(), opCtx)
	if gerr == nil || gerr.Extensions["code"] != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("got %v, want COMPLEXITY_LIMIT_EXCEEDED", gerr)
	}
}

// Parsed documents are kept for signed-in callers only: anyone could
// otherwise fill the cache with large documents.
func TestOnlySignedInDocumentsAreCached(t *testing.T) {
	docs := viewerCache{lru.New[*ast.QueryDocument](10)}
	ctx := context.Background()
	doc := &ast.QueryDocument{}
	docs.Add(ctx, "{ anonymous }", doc)
	docs.Add(auth.WithViewer(ctx, &auth.Viewer{UserID: "usr_1"}), "{ signedIn }", doc)
	if _, ok := docs.Get(ctx, "{ anonymous }"); ok {
		t.Fatal("an anonymous caller's document was cached")
	}
	if _, ok := docs.Get(ctx, "{ signedIn }"); !ok {
		t.Fatal("a signed-in caller's document was not cached")
	}
}
