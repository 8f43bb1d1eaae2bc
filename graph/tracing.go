package graph

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-chat/switchboard/metrics"
	"github.com/switchboard-chat/switchboard/tracing"
)

// continueTrace makes the traceparent a client sends the parent of its
// operation's span. Not a websocket's: the socket lives for hours, and
// each of its operations is a trace of its own.
func continueTrace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tracing.On() && r.Header.Get("Upgrade") == "" && r.Header.Get("traceparent") != "" {
			r = r.WithContext(tracing.FromRequest(r))
		}
		next.ServeHTTP(w, r)
	})
}

// traceOperation wraps each operation in a span named for its type and
// name ("mutation sendMessage"), from its arrival (parsing and validation
// included) to its response, with its errors. A subscription's span is its
// subscribe, up to the stream being attached: the events it then receives,
// for hours, have a span each (deliver, in the trace of the change).
func traceOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if !tracing.On() {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	name, attrs := operationSpan(oc)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...)}
	if !oc.Stats.OperationStart.IsZero() {
		opts = append(opts, trace.WithTimestamp(oc.Stats.OperationStart))
	}
	ctx, span := tracing.Start(ctx, name, opts...)
	responses := next(ctx)
	if op := operationFrom(ctx); op != nil && op.bound {
		span.End()
		return responses
	}
	ended := false
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if !ended {
			ended = true
			recordErrors(span, resp)
			span.End()
		}
		return resp
	}
}

// operationSpan names an operation's spans: by type and name, the name
// bounded as the metrics' is (clients choose names; span names are grouped
// by), the name itself an attribute.
func operationSpan(oc *graphql.OperationContext) (string, []attribute.KeyValue) {
	typ, name := "operation", oc.OperationName
	if oc.Operation != nil {
		typ, name = string(oc.Operation.Operation), oc.Operation.Name
	}
	attrs := []attribute.KeyValue{semconv.GraphQLOperationTypeKey.String(typ)}
	if name == "" {
		return typ, attrs
	}
	return typ + " " + metrics.OperationName(name), append(attrs, semconv.GraphQLOperationName(name))
}

// recordErrors marks a span failed with a response's errors, by code.
func recordErrors(span trace.Span, resp *graphql.Response) {
	if resp == nil || len(resp.Errors) == 0 {
		return
	}
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		span.RecordError(e, trace.WithAttributes(attribute.String("graphql.error.code", code)))
	}
	span.SetStatus(codes.Error, resp.Errors[0].Message)
}

// deliverSpan starts the span of a subscription's event, executed once for
// every subscriber of its shape (see shared.go): a child of the event's
// fan-out span. Subscribers that write the shared encoding, or arrive
// before it is made and execute their own, make none: there may be
// thousands.
func (op *operation) deliverSpan(fanOut trace.SpanContext, event int64) (context.Context, trace.Span) {
	name, attrs := operationSpan(graphql.GetOperationContext(op.rctx))
	return tracing.Start(trace.ContextWithSpanContext(op.rctx, fanOut), "deliver "+name,
		trace.WithAttributes(append(attrs, attribute.Int64("events.id", event))...))
}
