// Package metrics is what an operator's Prometheus scrapes from ADMIN_ADDR's
// /metrics: webhooks in and out of the journal, processing, sending and the
// database pool.
//
// Every series with a platform label exists from the start (Init), at zero,
// so a dashboard or an alert on a rate sees a platform that has received
// nothing yet instead of no data. The metrics are process-wide, as the
// Prometheus client's are meant to be: one process, one set.
package metrics

import (
	"database/sql"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds Switchboard's metrics and the Go runtime's and process's.
var Registry = prometheus.NewRegistry()

// Rejection reasons, one per status the webhook edge answers a refusal
// with: a small fixed set, unlike the free text logged.
const (
	ReasonMalformed    = "malformed"          // 400: does not parse, or too old to be true
	ReasonSignature    = "bad_signature"      // 401
	ReasonForbidden    = "forbidden"          // 403: a wrong verify token
	ReasonUnknown      = "unknown_connection" // 404
	ReasonDisconnected = "disconnected"       // 410
	ReasonTooLarge     = "too_large"          // 413
	ReasonRateLimited  = "rate_limited"       // 429: unknown ids beyond the lookup rate
	ReasonUnavailable  = "unavailable"        // 503: the database could not take it
	ReasonOther        = "other"
)

var reasons = []string{ReasonMalformed, ReasonSignature, ReasonForbidden, ReasonUnknown, ReasonDisconnected,
	ReasonTooLarge, ReasonRateLimited, ReasonUnavailable, ReasonOther}

// Reason names the rejection an HTTP status stands for.
func Reason(status int) string {
	switch status {
	case http.StatusBadRequest:
		return ReasonMalformed
	case http.StatusUnauthorized:
		return ReasonSignature
	case http.StatusForbidden:
		return ReasonForbidden
	case http.StatusNotFound:
		return ReasonUnknown
	case http.StatusGone:
		return ReasonDisconnected
	case http.StatusRequestEntityTooLarge:
		return ReasonTooLarge
	case http.StatusTooManyRequests:
		return ReasonRateLimited
	case http.StatusServiceUnavailable:
		return ReasonUnavailable
	}
	return ReasonOther
}

// The platform errors a send can meet (platform.Kind's names).
var sendKinds = []string{"permanent", "auth", "rate_limited", "transient"}

// latency buckets, in seconds, from a millisecond (an acknowledgement on a
// quiet machine) to Zalo's 2 s limit and beyond.
var latency = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10}

var (
	WebhooksReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_webhooks_received_total",
		Help: "Webhook requests received, by platform, whatever became of them.",
	}, []string{"platform"})
	WebhooksRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_webhooks_rejected_total",
		Help: "Webhook requests refused, by platform and reason (the status answered).",
	}, []string{"platform", "reason"})
	WebhookEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_webhook_events_total",
		Help: "Platform events of accepted webhooks, by platform and outcome: journaled, or duplicate (already journaled).",
	}, []string{"platform", "outcome"})
	AckSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchboard_webhook_ack_seconds",
		Help:    "Time from a webhook request's arrival to its answer, by platform (Zalo disables a webhook slower than 2 s).",
		Buckets: latency,
	}, []string{"platform"})
	JournalBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "switchboard_journal_batch_events",
		Help:    "Events per journal commit (group commit of concurrent webhook requests).",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500},
	})
	ProcessingLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "switchboard_processing_lag_seconds",
		Help:    "Time from a webhook's arrival to the commit that applied its event.",
		Buckets: latency,
	})
	EventsProcessed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_events_processed_total",
		Help: "Journal events settled by processing, by outcome: applied, retry (will be tried again) or failed.",
	}, []string{"outcome"})
	SendAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_send_attempts_total",
		Help: "Attempts to send an agent's message to a platform, by platform.",
	}, []string{"platform"})
	SendFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_send_failures_total",
		Help: "Failed send attempts, by platform and error kind (permanent, auth, rate_limited, transient).",
	}, []string{"platform", "kind"})
	WebsocketsOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_websockets_open",
		Help: "Websockets open on this replica (authenticated or not yet).",
	})
	Subscriptions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_subscriptions_active",
		Help: "GraphQL subscriptions streaming on this replica's websockets.",
	})
	FanOutLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "switchboard_fanout_lag_seconds",
		Help:    "Time from an event's write to the event log to its subscription message being written to a socket.",
		Buckets: latency,
	})
	OperationSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchboard_graphql_operation_seconds",
		Help:    "Time from a GraphQL query's or mutation's arrival to its response, by operation name (\"other\" past the first 200 names, \"anonymous\" for none).",
		Buckets: latency,
	}, []string{"operation"})
	OperationErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_graphql_operation_errors_total",
		Help: "GraphQL responses carrying errors, by operation name and the first error's code.",
	}, []string{"operation", "code"})
)

// OperationName bounds the operation names used as label values: clients
// choose them, and each distinct value is a series kept for ever.
func OperationName(name string) string {
	if name == "" {
		return "anonymous"
	}
	opNamesMu.Lock()
	defer opNamesMu.Unlock()
	if opNames[name] {
		return name
	}
	if len(opNames) >= maxOperationNames || len(name) > 100 {
		return "other"
	}
	opNames[name] = true
	return name
}

const maxOperationNames = 200

var (
	opNamesMu sync.Mutex
	opNames   = map[string]bool{}
)

var registerOnce sync.Once

// Init registers the metrics, with every platform's label sets at zero, and
// the database pool's statistics.
func Init(platforms []string, db *sql.DB) {
	registerOnce.Do(func() {
		Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			WebhooksReceived, WebhooksRejected, WebhookEvents, AckSeconds, JournalBatch, ProcessingLag, EventsProcessed,
			SendAttempts, SendFailures, WebsocketsOpen, Subscriptions, FanOutLag, OperationSeconds, OperationErrors)
		if db != nil {
			Registry.MustRegister(collectors.NewDBStatsCollector(db, "switchboard"))
		}
		for _, o := range []string{"applied", "retry", "failed"} {
			EventsProcessed.WithLabelValues(o)
		}
	})
	for _, p := range platforms {
		WebhooksReceived.WithLabelValues(p)
		AckSeconds.WithLabelValues(p)
		SendAttempts.WithLabelValues(p)
		for _, r := range reasons {
			WebhooksRejected.WithLabelValues(p, r)
		}
		for _, o := range []string{"journaled", "duplicate"} {
			WebhookEvents.WithLabelValues(p, o)
		}
		for _, k := range sendKinds {
			SendFailures.WithLabelValues(p, k)
		}
	}
}

var (
	gaugesMu sync.Mutex
	gauges   = map[string]func() float64{}
)

// Gauge registers a gauge read at each scrape (the journal's backlog, the
// outbox's depth: counts the database keeps). Registering a name again
// replaces how it is read.
func Gauge(name, help string, read func() float64) {
	gaugesMu.Lock()
	defer gaugesMu.Unlock()
	_, known := gauges[name]
	gauges[name] = read
	if known {
		return
	}
	Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		gaugesMu.Lock()
		f := gauges[name]
		gaugesMu.Unlock()
		return f()
	}))
}

// Handler serves the metrics in Prometheus's text format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}
