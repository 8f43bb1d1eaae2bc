package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/calls"
	"github.com/switchboard-chat/switchboard/campaigns"
	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/contacts"
	"github.com/switchboard-chat/switchboard/conversations"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/httpx"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/metrics"
	"github.com/switchboard-chat/switchboard/outbox"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/widgets"
)

// Options configures the GraphQL handler.
type Options struct {
	Client        *ent.Client
	Accounts      *accounts.Service
	Connections   *connections.Service
	Ingest        *ingest.Processor
	Outbox        *outbox.Service
	Conversations *conversations.Service
	Calls         *calls.Service
	Contacts      *contacts.Service
	Hub           *events.Hub
	Platforms     *platform.Registry
	Widgets       *widgets.Service
	// Introspection enables __schema/__type queries.
	Introspection bool
	// ComplexityLimit caps the cost of one operation (0: a default).
	ComplexityLimit int
	// MaxBodyBytes caps a request body (0: a default).
	MaxBodyBytes int64
	// CheckOrigin decides which browser origins may open a websocket (nil: any).
	CheckOrigin func(r *http.Request) bool
	// Limits bound what one client can make the server do.
	Limits config.Limits
	// Sockets are the process's open websockets (nil: a registry of its own).
	Sockets *Sockets
}

// Defaults for Options.
const (
	DefaultComplexityLimit = 20000
	DefaultMaxBodyBytes    = 1 << 20
)

// publicFields are the root fields that need no token.
var publicFields = map[string]bool{"login": true, "__schema": true, "__type": true, "__typename": true}

// NewHandler returns the /graphql handler: POST and GET over HTTP, and
// websockets (both subscription protocols) on the same path.
func NewHandler(o Options) http.Handler {
	if o.ComplexityLimit == 0 {
		o.ComplexityLimit = DefaultComplexityLimit
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	o.Limits = limitsWithDefaults(o.Limits)
	access := NewAccess(o.Client)
	camps := campaigns.New(o.Client)
	camps.OnAccessChanged(access.Forget)
	if o.Accounts != nil {
		o.Accounts.OnAccessChanged(access.Forget)
	}
	resolver := &Resolver{Client: o.Client, Accounts: o.Accounts, Campaigns: camps, Channels: o.Connections, Ingest: o.Ingest, Hub: o.Hub, Platforms: o.Platforms,
		Outbox: o.Outbox, Workflow: o.Conversations, CallLog: o.Calls, Contacts: o.Contacts,
		Widgets: o.Widgets, Access: access, ReplayMax: o.Limits.EventReplayMax}
	cfg := Config{Resolvers: resolver}
	costPagination(&cfg.Complexity)
	// Introspection shows the schema without gqlgen's code generation directives.
	cfg.Schema = withoutCodegenDirectives(NewExecutableSchema(Config{}).Schema())
	srv := handler.New(NewExecutableSchema(cfg))

	if o.Sockets == nil {
		o.Sockets = NewSockets(o.Accounts, o.Limits.WSMaxSockets, o.Limits.WSMaxOperations, o.Limits.WSWriteTimeout)
	}
	srv.AddTransport(o.Sockets.transport(o.CheckOrigin))
	// Outermost, so that a socket's refusals have their spans too.
	srv.AroundOperations(traceOperation)
	srv.AroundOperations(o.Sockets.aroundOperations)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(postTransport{})

	docs := viewerCache{lru.New[*ast.QueryDocument](1000)}
	srv.SetQueryCache(docs)
	srv.SetParserTokenLimit(o.Limits.MaxTokens)
	if o.Introspection {
		srv.Use(extension.Introspection{})
	}
	// Before persisted queries, so that only texts within the limits are stored.
	srv.Use(documentLimits{maxBytes: o.Limits.MaxQueryBytes, maxTokens: o.Limits.MaxTokens, validated: docs})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	// The page limit before the complexity limit: naming the argument to
	// lower helps more than a cost.
	srv.Use(operationLimits{maxPage: o.Limits.MaxPage, maxNodes: o.Limits.MaxNodes})
	srv.Use(&complexityLimit{limit: o.ComplexityLimit})
	srv.AroundResponses(slowDownStatus)
	srv.AroundResponses(observeOperation)
	srv.SetErrorPresenter(presentError)
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		slog.ErrorContext(ctx, "graphql resolver panic", "panic", fmt.Sprint(v))
		return gqlerror.Errorf("internal server error")
	})
	srv.AroundRootFields(requireViewer)
	srv.AroundFields(failRefused(cfg.Schema))

	// Transaction boundaries: entgql runs each mutation in its own transaction
	// when the resolver asks for ent.TxFromContext; our domain services manage
	// their own, so nothing more here.
	anon := httpx.NewClientLimiter(o.Limits.AnonRate, o.Limits.AnonBurst)
	return continueTrace(withSocket(httpx.ClientIPs(o.Limits.TrustedProxies,
		withBodyLimit(o.MaxBodyBytes, authenticate(o.Accounts, limitAnonymous(anon, specStatus(srv)))))))
}

// requireViewer refuses every root field but login and introspection to
// anonymous callers, so a new query cannot forget authentication. Ent privacy
// rules enforce tenancy underneath as the second line.
func requireViewer(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	fc := graphql.GetRootFieldContext(ctx)
	if fc != nil && !publicFields[fc.Field.Name] {
		err := authError(ctx)
		if err == nil && auth.FromContext(ctx) == nil {
			err = apperr.Unauthenticatedf("authentication required: send Authorization: Bearer <token> (see the login mutation)")
		}
		if err != nil {
			// The field itself fails (failRefused), rather than this
			// returning null for it: only a failed field propagates null
			// through a non-null type (`me: User!` makes data null) and
			// carries its path on the error.
			return next(context.WithValue(ctx, refusedKey{}, err))
		}
	}
	return next(ctx)
}

type refusedKey struct{}

// failRefused fails the root field requireViewer refused, before its
// resolver runs; nothing under it runs either. It runs for every field of
// every response (a thousand on an inbox page), so a field of an object
// other than the schema's root types, which runs only when its root field
// was not refused, is passed at once: its field context is the nearest
// value, where the refusal lies at the bottom of a context dozens of values
// deep.
func failRefused(schema *ast.Schema) graphql.FieldMiddleware {
	roots := map[string]bool{}
	for _, d := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if d != nil {
			roots[d.Name] = true
		}
	}
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		if fc := graphql.GetFieldContext(ctx); fc == nil || roots[fc.Object] {
			if err, ok := ctx.Value(refusedKey{}).(error); ok {
				return nil, err
			}
		}
		return next(ctx)
	}
}

type authErrorKey struct{}

func authError(ctx context.Context) error {
	err, _ := ctx.Value(authErrorKey{}).(error)
	return err
}

// authenticate turns the Authorization header into a viewer. A bad token is
// remembered and reported on every non-public field rather than silently
// treated as anonymous.
func authenticate(acc *accounts.Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			ctx = context.WithValue(ctx, authErrorKey{}, apperr.Unauthenticatedf("the Authorization header must be `Bearer <token>`"))
		} else if v, err := acc.Authenticate(ctx, strings.TrimSpace(token)); err != nil {
			if !errors.Is(err, apperr.ErrUnauthenticated) {
				writeError(ctx, w, http.StatusInternalServerError, fmt.Errorf("authenticating request: %w", err))
				return
			}
			ctx = context.WithValue(ctx, authErrorKey{}, err)
		} else {
			ctx = auth.WithViewer(ctx, v)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func withBodyLimit(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tooLarge := func() {
			writeError(r.Context(), w, http.StatusRequestEntityTooLarge, apperr.Input("body", "request body too large: at most %d bytes", limit))
		}
		if r.ContentLength > limit {
			tooLarge()
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if r.ContentLength < 0 && r.Header.Get("Upgrade") == "" {
			// A body of unknown length (chunked) is read here, so that one
			// over the limit is a 413 like any other rather than gqlgen's
			// 400 for JSON it could not finish reading.
			body, err := io.ReadAll(r.Body)
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				tooLarge()
				return
			}
			if err != nil {
				writeError(r.Context(), w, http.StatusBadRequest, apperr.Input("body", "reading the request body: %v", err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// writeError answers a request that never reaches GraphQL execution, its
// error shaped by the one error presenter, as a GraphQL JSON response.
func writeError(ctx context.Context, w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(graphql.Response{Errors: gqlerror.List{presentError(ctx, err)}})
}

// specStatus adjusts two status codes of gqlgen to the GraphQL-over-HTTP
// specification: a mutation sent over GET is 405 Method Not Allowed (gqlgen
// says 406), and a request that accepts application/json gets 200 for
// documents that fail to parse or validate (gqlgen says 422), since generic
// clients treat other codes as transport failures and drop the error details.
// A response refused only for going too fast (TOO_MANY_REQUESTS) is 429 with
// Retry-After, which HTTP clients and proxies know to back off on.
func specStatus(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r) // websockets need the original writer (Hijack)
			return
		}
		// Strings in answers are not HTML-escaped (graph/post.go writes
		// what gqlgen encodes): no browser may take an answer for a page.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		sf := &statusFixer{ResponseWriter: w, get: r.Method == http.MethodGet}
		next.ServeHTTP(sf, r.WithContext(context.WithValue(r.Context(), statusFixerKey{}, sf)))
	})
}

type statusFixer struct {
	http.ResponseWriter
	get bool
	// retryAfter, when set, turns a 200 into 429 Too Many Requests with this
	// Retry-After (see slowDownStatus).
	retryAfter  int
	wroteHeader bool
	// refused is set when gqlgen answered before executing anything (it
	// sets a status only then): the body is rewritten by refusal.
	refused bool
	// swallow drops gqlgen's body after an answer of our own (405).
	swallow bool
}

// Write sends the header first, through WriteHeader, so that a status
// decided from the response (429) still applies when gqlgen writes the body
// without calling WriteHeader.
func (w *statusFixer) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	if w.refused {
		if _, err := w.ResponseWriter.Write(refusal(b)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// refusal is gqlgen's answer to a request it did not execute, as the
// GraphQL specification wants it: no data entry at all (gqlgen writes
// "data": null), and every error with a code (gqlgen's transport errors,
// such as variables in a GET that do not decode, have none: the client's
// mistake, BAD_USER_INPUT).
func refusal(body []byte) []byte {
	var r struct {
		Errors     []map[string]any `json:"errors"`
		Extensions map[string]any   `json:"extensions,omitempty"`
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Errors) == 0 {
		return body
	}
	for _, e := range r.Errors {
		ext, _ := e["extensions"].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			e["extensions"] = ext
		}
		if ext["code"] == nil {
			ext["code"] = CodeBadUserInput
		}
	}
	out, err := json.Marshal(r)
	if err != nil {
		return body
	}
	return out
}

func (w *statusFixer) WriteHeader(code int) {
	if code != http.StatusOK && !w.wroteHeader {
		w.refused = true
	}
	switch {
	case code == http.StatusNotAcceptable && w.get:
		w.Header().Set("Allow", "POST")
		code = http.StatusMethodNotAllowed
		w.refused = false
		w.wroteHeader = true
		w.Header().Set("Content-Type", "application/json")
		w.ResponseWriter.WriteHeader(code)
		_ = json.NewEncoder(w.ResponseWriter).Encode(graphql.Response{Errors: gqlerror.List{{
			Message:    "GET runs queries only: send mutations with POST",
			Extensions: map[string]any{"code": CodeMethodNotAllowed},
		}}})
		w.swallow = true
		return
	case code == http.StatusUnprocessableEntity && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json"):
		code = http.StatusOK
	case code == http.StatusOK && w.retryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(w.retryAfter))
		code = http.StatusTooManyRequests
	}
	w.wroteHeader = true
	w.ResponseWriter.WriteHeader(code)
}

// observeOperation records each query's and mutation's latency, from its
// arrival, and its errors by code (subscriptions' events are the fan-out
// lag's, in the websocket transport).
func observeOperation(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || !graphql.HasOperationContext(ctx) {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	name := "invalid" // the document did not parse or validate
	if oc.Operation != nil {
		if oc.Operation.Operation == ast.Subscription {
			return resp
		}
		name = metrics.OperationName(oc.Operation.Name)
	}
	if !oc.Stats.OperationStart.IsZero() {
		metrics.OperationSeconds.WithLabelValues(name).Observe(time.Since(oc.Stats.OperationStart).Seconds())
	}
	if len(resp.Errors) > 0 {
		code, _ := resp.Errors[0].Extensions["code"].(string)
		if code == "" {
			code = "UNKNOWN"
		}
		metrics.OperationErrors.WithLabelValues(name, code).Inc()
	}
	return resp
}
