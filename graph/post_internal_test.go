package graph

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The media type follows the Accept header as gqlgen's POST transport
// chooses it, which clients (and the statuses of refused documents) rely on.
func TestResponseMedia(t *testing.T) {
	for accept, want := range map[string]string{
		"":                                  mediaJSON,
		"*/*":                               mediaJSON,
		"application/*":                     mediaJSON,
		"application/json":                  mediaJSON,
		"application/json; charset=utf-8":   mediaJSON,
		"application/graphql-response+json": mediaGraphQLResponse,
		"application/graphql-response+json, application/json;q=0.9": mediaGraphQLResponse,
		"text/html, application/json":                               mediaJSON,
		"text/html":                                                 mediaGraphQLResponse,
		"not a media type":                                          mediaGraphQLResponse,
	} {
		if got := responseMedia(accept); got != want {
			t.Errorf("Accept %q: %s, want %s", accept, got, want)
		}
	}
}

// A response written without json.Marshal says what json.Marshal would.
func TestWriteResponseMatchesEncodingJSON(t *testing.T) {
	for name, resp := range map[string]*graphql.Response{
		"data":             {Data: json.RawMessage(`{"inbox":{"totalCount":2,"edges":[{"node":{"id":"c1","title":"<b>&"}}]}}`)},
		"no data":          {},
		"errors and data":  {Data: json.RawMessage(`{"a":null}`), Errors: gqlerror.List{{Message: "no", Path: ast.Path{ast.PathName("a")}}}},
		"extensions":       {Data: json.RawMessage(`{"a":1}`), Extensions: map[string]any{"cost": 3}},
		"only errors":      {Errors: gqlerror.List{{Message: "bad", Extensions: map[string]any{"code": "BAD_USER_INPUT"}}}},
		"an empty payload": {Data: json.RawMessage(`{}`)},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			writeResponse(&buf, resp)
			want, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var got, exp any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("written %s: not JSON: %v", buf.Bytes(), err)
			}
			if err := json.Unmarshal(want, &exp); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, exp) {
				t.Fatalf("written %s, json.Marshal says %s", buf.Bytes(), want)
			}
		})
	}
}
