// Package tracing sets up OpenTelemetry traces, exported over OTLP/HTTP
// when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
// is set. A webhook's trace outlives its request: the journal row and then
// the domain event carry the W3C traceparent of the span that wrote them
// (Parent), and whoever picks them up later, on any replica, continues the
// trace from it (Remote).
//
// When tracing is off, nothing is started at all: hot paths ask On, one
// atomic load, before building a span's name, attributes or context, so
// that the webhook acknowledgement path allocates nothing more than before.
package tracing

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ServiceName is service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES say otherwise.
const ServiceName = "switchboard"

const scope = "github.com/switchboard-chat/switchboard"

// tracer is nil while tracing is off.
var tracer atomic.Pointer[trace.Tracer]

// propagator reads and writes only traceparent (and tracestate): a journal
// row or domain event keeps the traceparent alone.
var propagator = propagation.TraceContext{}

// On reports whether spans are recorded.
func On() bool { return tracer.Load() != nil }

// Start starts a span (a no-op one while tracing is off; callers on hot
// paths ask On first, so as not to build its options for nothing).
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	t := tracer.Load()
	if t == nil {
		return noop.NewTracerProvider().Tracer(scope).Start(ctx, name, opts...)
	}
	return (*t).Start(ctx, name, opts...)
}

// Setup exports traces over OTLP/HTTP when enabled (the exporter reads
// OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS, _TIMEOUT… itself; the batch
// processor OTEL_BSP_*; the sampler OTEL_TRACES_SAMPLER). The returned
// function flushes what is buffered and stops exporting: call it once
// nothing makes spans any more. Disabled, Setup does nothing.
func Setup(ctx context.Context, enabled bool, logger *slog.Logger) (shutdown func(context.Context) error, err error) {
	if !enabled {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	// Detectors merge in order, later ones winning: the environment's
	// service name and attributes over ours.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(semconv.ServiceName(ServiceName)),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	// The SDK reports export failures here; a collector that is down says
	// so once per batch, not once per span.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { logger.Warn("exporting traces", "err", err) }))
	Use(tp)
	return func(ctx context.Context) error {
		tracer.Store(nil)
		return tp.Shutdown(ctx)
	}, nil
}

// Use records spans with tp from now on (tests give an in-memory
// recorder's) and returns what turns tracing off again.
func Use(tp trace.TracerProvider) (off func()) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagator, propagation.Baggage{}))
	t := tp.Tracer(scope)
	tracer.Store(&t)
	return func() { tracer.Store(nil) }
}

// Parent is the traceparent of ctx's span, for work that continues the
// trace later from a row; "" when tracing is off or ctx has no span.
func Parent(ctx context.Context) string {
	if !On() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// Remote is the span context a traceparent names (invalid when it names none).
func Remote(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	ctx := propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	return trace.SpanContextFromContext(ctx)
}

// FromRequest continues the trace a client's traceparent header names, if any.
func FromRequest(r *http.Request) context.Context {
	return propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
}
