package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
	"github.com/artifact-trust/control-plane/store"
)

// metrics are the server's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg        *prometheus.Registry
	operations *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	promotions *prometheus.CounterVec
	events     *prometheus.CounterVec
	denials    *prometheus.CounterVec
	dbErrors   prometheus.Counter
	wsClosed   *prometheus.CounterVec
	wsRefused  *prometheus.CounterVec
	// repairs, once watchOutbox set it, tells the outbox repair status (readiness
	// names the quarantined entries).
	repairs func() store.RepairStatus
}

var _ service.Observer = (*metrics)(nil)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "artifact_trust_graphql_operations_total",
			Help: "GraphQL operations by root field and outcome code (OK or extensions.code of the first error).",
		}, []string{"operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "artifact_trust_graphql_operation_duration_seconds",
			Help:    "Latency of GraphQL operations by root field.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		promotions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "artifact_trust_promotions_total",
			Help: "Successful promotions by channel.",
		}, []string{"channel"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "artifact_trust_audit_events_total",
			Help: "Artifact audit events written, by action.",
		}, []string{"action"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "artifact_trust_policy_denials_total",
			Help: "Reasons of POLICY_DENIED refusals, by operation and reason class (lifecycle, trust, checks, role, progression, source_type, non_oci, approval, soak, window, freeze, break_glass, floor).",
		}, []string{"operation", "reason_class"}),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "artifact_trust_database_errors_total",
			Help: "Operations that failed because the database was unavailable or answered an unexpected error.",
		}),
		wsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "artifact_trust_websocket_auth_closes_total",
			Help: "Websocket connections the server closed over their credential, by close code (4401 refused or expired token, 4403 forbidden project).",
		}, []string{"code"}),
		wsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "artifact_trust_websocket_subscriptions_refused_total",
			Help: "Subscriptions refused over a limit, by limit (connection_limit, subject_limit).",
		}, []string{"limit"}),
	}
	m.reg.MustRegister(m.operations, m.latency, m.promotions, m.events, m.denials, m.dbErrors, m.wsClosed, m.wsRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchSubscribers exports the number of live subscriptions.
func (m *metrics) watchSubscribers(count func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "artifact_trust_live_subscribers",
		Help: "Open artifactEvents subscriptions.",
	}, func() float64 { return float64(count()) }))
}

// observeWebsocketClose counts a connection closed over its credential.
func (m *metrics) observeWebsocketClose(code int) {
	if m != nil {
		m.wsClosed.WithLabelValues(strconv.Itoa(code)).Inc()
	}
}

// observeSubscriptionRefused counts a subscription refused over a limit.
func (m *metrics) observeSubscriptionRefused(limit string) {
	if m != nil {
		m.wsRefused.WithLabelValues(limit).Inc()
	}
}

// watchOutbox exports the outbox backlog: acknowledged writes whose read models are
// not updated yet, and how many of them are failing their repair.
func (m *metrics) watchOutbox(status func() store.RepairStatus) {
	m.repairs = status
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "artifact_trust_outbox_backlog",
			Help: "Acknowledged writes whose read models (lists, audit feed, channel status, deployable) are not updated yet: outbox entries this replica is repairing.",
		}, func() float64 { return float64(status().Backlog) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "artifact_trust_outbox_failing",
			Help: "Outbox entries whose latest repair attempt failed (the engine refused the write), but for the quarantined; /readyz answers 503 while it is above 0.",
		}, func() float64 { return float64(status().Failing) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "artifact_trust_outbox_quarantined",
			Help: "Outbox entries whose repair kept failing past the bound (5 attempts over 5 minutes, or undecodable): kept and retried every minute, logged at error level, no longer a cause of 503 on /readyz; `server repair` for their project clears them.",
		}, func() float64 { return float64(status().Quarantined) }),
	)
}

// handler serves the metrics in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observeOperation records one GraphQL operation.
func (m *metrics) observeOperation(operation, code string, d time.Duration) {
	if operation == "" {
		operation = "unparsed"
	}
	if code == "" {
		code = "OK"
	}
	m.operations.WithLabelValues(operation, code).Inc()
	m.latency.WithLabelValues(operation).Observe(d.Seconds())
}

// Committed counts audit events and promotions.
func (m *metrics) Committed(events []model.AuditEvent) {
	for _, e := range events {
		m.events.WithLabelValues(e.Action).Inc()
		if e.Action == model.ActionPromote {
			m.promotions.WithLabelValues(string(e.PromotionChannel)).Inc()
		}
	}
}

// Denied counts each reason class of a policy refusal.
func (m *metrics) Denied(operation string, classes []string) {
	for _, c := range classes {
		m.denials.WithLabelValues(operation, c).Inc()
	}
}
