package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/httpx"
)

// limitsWithDefaults fills the limits a caller left zero with the defaults of
// the configuration, so that a handler built without a configuration (a
// benchmark, a tool) is not left without limits: a token limit of 0 means
// none to gqlgen.
func limitsWithDefaults(l config.Limits) config.Limits {
	or := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	or(&l.MaxTokens, 15000)
	or(&l.MaxQueryBytes, 64<<10)
	or(&l.MaxPage, 500)
	or(&l.MaxNodes, 100)
	or(&l.AnonBurst, 20)
	if l.AnonRate <= 0 {
		l.AnonRate = 5
	}
	return l
}

// Anonymous requests.

// limitAnonymous answers 429 to GraphQL requests without a valid token (none,
// or a bad one) beyond the client's budget, before the body is read:
// parsing and validating a document costs CPU before any field can check a
// token, so whoever has no token gets a small budget of it.
// Websocket upgrades are not counted: a socket runs nothing until its
// connection_init carries a valid token, and the websocket limits bound them.
func limitAnonymous(l *httpx.ClientLimiter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if auth.FromContext(ctx) != nil || r.Header.Get("Upgrade") != "" ||
			(r.Method != http.MethodGet && r.Method != http.MethodPost) {
			next.ServeHTTP(w, r)
			return
		}
		if wait := l.Wait(httpx.ClientIP(ctx), time.Now()); wait > 0 {
			slow := &apperr.ErrTooManyRequests{RetryAfter: wait, Msg: "too many requests without a valid token from your address: slow down, or sign in"}
			w.Header().Set("Retry-After", strconv.Itoa(slow.RetryAfterSeconds()))
			writeError(ctx, w, http.StatusTooManyRequests, slow)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Documents, before they are parsed.

// Bounds on the work validating one document may take. gqlparser compares
// every two fields that share a response name in a selection set (the
// OverlappingFieldsCanBeMerged rule), recursively through their sub-selections:
// 6,000 copies of `__typename` in 64 KiB took 6 s to validate, and
// `{ me { id id … } me { id id … } … }` a second in 8 KiB. Legitimate
// documents repeat a field a handful of times (the same field selected by
// several fragments), so a budget far above that and far below the slow
// cases separates them.
const (
	// maxFieldPairs bounds the pairs of same-named fields (weighted by the
	// width of their sub-selections, which each comparison walks); about
	// 1.7 µs each in the slowest shape measured.
	maxFieldPairs = 10000
	// maxExpandedFields bounds the fields of the document with every fragment
	// spread in place; the complexity limit bounds executed fields far lower.
	maxExpandedFields = 50000
)

// documentLimits refuses, before gqlgen parses and validates it, a query
// text that is too long, or one whose validation would cost too much.
type documentLimits struct {
	maxBytes  int
	maxTokens int
	// validated are documents already parsed and validated: no need to
	// look at them again.
	validated graphql.Cache[*ast.QueryDocument]
}

var _ interface {
	graphql.OperationParameterMutator
	graphql.HandlerExtension
} = documentLimits{}

func (documentLimits) ExtensionName() string                   { return "DocumentLimits" }
func (documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (d documentLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if len(p.Query) > d.maxBytes {
		return presentError(ctx, apperr.Input("query", "the document is %d bytes long; at most %d are accepted", len(p.Query), d.maxBytes))
	}
	if p.Query == "" {
		return nil
	}
	if _, ok := d.validated.Get(ctx, p.Query); ok {
		return nil
	}
	// Parsing is linear and bounded by the token limit; validation is not.
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, d.maxTokens)
	if err != nil {
		return nil // gqlgen parses it again and reports the error
	}
	if msg := validationCost(doc); msg != "" {
		return presentError(ctx, apperr.Input("query", "%s", msg))
	}
	return nil
}

// validationCost estimates the work of validating doc, and says what is too
// much of it ("" when within the budgets). Each operation and each fragment
// is expanded (fragments spread in place) into a tree where fields with the
// same response name under the same parent share a node; a node reached k
// times stands for k·(k-1)/2 comparisons.
func validationCost(doc *ast.QueryDocument) string {
	c := costCounter{fragments: map[string]*ast.FragmentDefinition{}, spreading: map[string]bool{}}
	for _, f := range doc.Fragments {
		if _, dup := c.fragments[f.Name]; !dup {
			c.fragments[f.Name] = f
		}
	}
	roots := make([]ast.SelectionSet, 0, len(doc.Operations)+len(doc.Fragments))
	for _, op := range doc.Operations {
		roots = append(roots, op.SelectionSet)
	}
	// Fragments are validated on their own too, used or not.
	for _, f := range doc.Fragments {
		roots = append(roots, f.SelectionSet)
	}
	for _, set := range roots {
		if !c.add(set, &mergedField{}) {
			break
		}
	}
	switch {
	case c.fields > maxExpandedFields:
		return fmt.Sprintf("with its fragments spread, the document has more than %d fields", maxExpandedFields)
	case c.pairs > maxFieldPairs:
		return "the document repeats the same fields too often: select each field once per selection set"
	}
	return ""
}

type costCounter struct {
	fragments map[string]*ast.FragmentDefinition
	spreading map[string]bool // fragments being expanded (a cycle is refused by validation)
	fields    int
	pairs     int
}

type mergedField struct {
	times    int
	children map[string]*mergedField
}

// add expands set into parent; false once over a budget, to stop early.
func (c *costCounter) add(set ast.SelectionSet, parent *mergedField) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			c.fields++
			name := s.Alias
			if name == "" {
				name = s.Name
			}
			if parent.children == nil {
				parent.children = map[string]*mergedField{}
			}
			m := parent.children[name]
			if m == nil {
				m = &mergedField{}
				parent.children[name] = m
			}
			c.pairs = satAdd(c.pairs, satMul(m.times, 1+len(s.SelectionSet)))
			m.times++
			if c.fields > maxExpandedFields || c.pairs > maxFieldPairs || !c.add(s.SelectionSet, m) {
				return false
			}
		case *ast.InlineFragment:
			if !c.add(s.SelectionSet, parent) {
				return false
			}
		case *ast.FragmentSpread:
			f := c.fragments[s.Name]
			if f == nil || c.spreading[s.Name] {
				continue
			}
			c.spreading[s.Name] = true
			ok := c.add(f.SelectionSet, parent)
			delete(c.spreading, s.Name)
			if !ok {
				return false
			}
		}
	}
	return true
}

// viewerCache keeps the parsed documents of signed-in callers only. Parsed
// documents are many times the size of their text (a 64 KiB one can take
// megabytes), so a cache anyone could fill with a thousand of them would be
// a way to exhaust memory without a token; anonymous callers only need
// login, which parses in microseconds.
type viewerCache struct {
	graphql.Cache[*ast.QueryDocument]
}

func (c viewerCache) Add(ctx context.Context, query string, doc *ast.QueryDocument) {
	if auth.FromContext(ctx) != nil {
		c.Cache.Add(ctx, query, doc)
	}
}

// Operations, once parsed and validated.

// operationLimits refuses, before execution, operations that sign in more
// than once (each alias of login would be one more password guess in a
// single request) or that ask for pages larger than maxPage or more than
// maxNodes ids of nodes(ids:).
type operationLimits struct {
	maxPage  int
	maxNodes int
}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = operationLimits{}

func (operationLimits) ExtensionName() string                   { return "OperationLimits" }
func (operationLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (l operationLimits) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	op := opCtx.Operation
	if op.Operation == ast.Mutation {
		if logins := rootFields(op.SelectionSet, "login", map[*ast.FragmentDefinition]bool{}); len(logins) > 1 {
			err := gqlerror.Errorf("login may be called only once per operation: sign in with one request per attempt")
			if p := logins[1].Position; p != nil {
				err.Locations = []gqlerror.Location{{Line: p.Line, Column: p.Column}}
			}
			errcode.Set(err, errcode.ValidationFailed)
			return err
		}
	}
	return l.check(ctx, op.SelectionSet, opCtx.Variables, map[*ast.FragmentDefinition]bool{})
}

// rootFields returns the fields called name in set, fragments included.
func rootFields(set ast.SelectionSet, name string, seen map[*ast.FragmentDefinition]bool) []*ast.Field {
	var out []*ast.Field
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == name {
				out = append(out, s)
			}
		case *ast.InlineFragment:
			out = append(out, rootFields(s.SelectionSet, name, seen)...)
		case *ast.FragmentSpread:
			// gqlgen collects a fragment once per selection set, however often it is spread.
			if s.Definition != nil && !seen[s.Definition] {
				seen[s.Definition] = true
				out = append(out, rootFields(s.Definition.SelectionSet, name, seen)...)
			}
		}
	}
	return out
}

// check walks every field of the operation; a fragment's arguments depend
// only on the variables, so each fragment is checked once.
func (l operationLimits) check(ctx context.Context, set ast.SelectionSet, vars map[string]any, seen map[*ast.FragmentDefinition]bool) *gqlerror.Error {
	for _, sel := range set {
		var err *gqlerror.Error
		switch s := sel.(type) {
		case *ast.Field:
			if err = l.checkField(ctx, s, vars); err == nil {
				err = l.check(ctx, s.SelectionSet, vars, seen)
			}
		case *ast.InlineFragment:
			err = l.check(ctx, s.SelectionSet, vars, seen)
		case *ast.FragmentSpread:
			if s.Definition != nil && !seen[s.Definition] {
				seen[s.Definition] = true
				err = l.check(ctx, s.Definition.SelectionSet, vars, seen)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkField applies the page limit to every field with an Int argument
// first or last (every Relay connection, generated or not), and the id limit
// to nodes(ids:).
func (l operationLimits) checkField(ctx context.Context, f *ast.Field, vars map[string]any) *gqlerror.Error {
	def := f.Definition
	if def == nil {
		return nil
	}
	var args map[string]any
	for _, name := range []string{"first", "last"} {
		a := def.Arguments.ForName(name)
		if a == nil || a.Type.Name() != "Int" || a.Type.Elem != nil {
			continue
		}
		if args == nil {
			args = f.ArgumentMap(vars)
		}
		if n, ok := asInt(args[name]); ok && n > int64(l.maxPage) {
			return fieldError(ctx, f, apperr.Input(name, "%s asks for %d items; a page holds at most %d: page through the rest with the cursors", f.Name, n, l.maxPage))
		}
	}
	if f.Name == "nodes" && f.ObjectDefinition != nil && f.ObjectDefinition.Name == "Query" {
		if ids, ok := f.ArgumentMap(vars)["ids"].([]any); ok && len(ids) > l.maxNodes {
			return fieldError(ctx, f, apperr.Input("ids", "%d ids given; nodes fetches at most %d at once", len(ids), l.maxNodes))
		}
	}
	return nil
}

func fieldError(ctx context.Context, f *ast.Field, err error) *gqlerror.Error {
	out := presentError(ctx, err)
	if f.Position != nil {
		out.Locations = []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}
	}
	return out
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n >= math.MaxInt32 {
			return math.MaxInt32, true // past any page limit, and safe to convert
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// Status codes.

type statusFixerKey struct{}

// slowDownStatus marks an HTTP response whose every error is
// TOO_MANY_REQUESTS (a sign-in refused by the throttle), for statusFixer to
// answer 429 with Retry-After, as HTTP clients and proxies expect of a
// request to be retried later. Over websockets there is no status to set.
func slowDownStatus(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	sf, _ := ctx.Value(statusFixerKey{}).(*statusFixer)
	if resp == nil || sf == nil || len(resp.Errors) == 0 {
		return resp
	}
	wait := 0
	for _, e := range resp.Errors {
		secs, ok := e.Extensions["retryAfter"].(int)
		if e.Extensions["code"] != CodeTooManyRequests || !ok {
			return resp
		}
		wait = max(wait, secs)
	}
	sf.retryAfter = max(wait, 1)
	return resp
}
