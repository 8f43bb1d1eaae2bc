package tracing_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchboard-chat/switchboard/tracing"
)

// collector is an OTLP/HTTP receiver: it keeps the bodies posted to /v1/traces.
type collector struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/v1/traces" {
		c.mu.Lock()
		c.bodies = append(c.bodies, b)
		c.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
}

// serviceName is the resource attribute service.name=v as OTLP's protobuf
// encodes it (a KeyValue holding an AnyValue's string; v is short).
func serviceName(v string) []byte {
	return []byte("service.name\x12" + string(rune(len(v)+2)) + "\x0a" + string(rune(len(v))) + v)
}

func (c *collector) received() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Join(c.bodies, nil)
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, spans reach the collector over
// OTLP/HTTP by the time shutdown returns, as service "switchboard" unless
// OTEL_SERVICE_NAME says otherwise.
func TestSetupExportsOnShutdown(t *testing.T) {
	for _, tc := range []struct{ name, env, want string }{{"default", "", "switchboard"}, {"OTEL_SERVICE_NAME", "inbox-eu", "inbox-eu"}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &collector{}
			srv := httptest.NewServer(c)
			defer srv.Close()
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
			t.Setenv("OTEL_SERVICE_NAME", tc.env)
			shutdown, err := tracing.Setup(context.Background(), true, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if !tracing.On() {
				t.Fatal("tracing is off after Setup")
			}
			_, span := tracing.Start(context.Background(), "exported-span")
			span.End()
			if err := shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tracing.On() {
				t.Fatal("tracing is still on after shutdown")
			}
			got := c.received()
			if !bytes.Contains(got, []byte("exported-span")) || !bytes.Contains(got, serviceName(tc.want)) {
				t.Fatalf("the collector received %q, want the span from service %q", got, tc.want)
			}
		})
	}
}

// Without an endpoint nothing is set up, and what hot paths call costs no
// allocation.
func TestOffCostsNothing(t *testing.T) {
	shutdown, err := tracing.Setup(context.Background(), false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	if tracing.On() {
		t.Fatal("tracing is on without an endpoint")
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		if tracing.On() || tracing.Parent(ctx) != "" {
			t.Fatal("a span where tracing is off")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per call with tracing off, want 0", n)
	}
}

// A span's traceparent names it again once parsed, as a row carries it to
// whoever continues the trace; a traceparent that names nothing is no parent.
func TestParentRoundTrip(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	defer tracing.Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))()
	ctx, span := tracing.Start(context.Background(), "journal")
	defer span.End()
	p := tracing.Parent(ctx)
	if got := tracing.Remote(p); got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() ||
		!got.IsSampled() || !got.IsRemote() {
		t.Fatalf("Remote(%q) = %+v, want %+v", p, got, span.SpanContext())
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-0000000000000000-01"} {
		if tracing.Remote(bad).IsValid() {
			t.Errorf("Remote(%q) is valid", bad)
		}
	}
	if got := tracing.Parent(context.Background()); got != "" {
		t.Errorf("Parent of a context without a span = %q", got)
	}
}
