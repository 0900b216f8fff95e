package ports

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts and times the public API calls, by route or procedure,
// protocol and outcome code.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	refused  *prometheus.CounterVec
	inflight *prometheus.GaugeVec
	queued   *prometheus.GaugeVec
}

// NewMetrics registers the request metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auction_dispatcher_requests_total",
			Help: "Public API calls by route or procedure, protocol and Connect code.",
		}, []string{"route", "protocol", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "auction_dispatcher_request_duration_seconds",
			Help:    "Latency of public API calls by route or procedure and protocol.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "protocol"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auction_dispatcher_refused_total",
			Help: "API calls refused at the edge by admission control (reason overload: 503) or the per-client rate limit (rate_limit: 429), by route class.",
		}, []string{"class", "reason"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "auction_dispatcher_inflight",
			Help: "API calls running under admission control, by route class.",
		}, []string{"class"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "auction_dispatcher_admission_queued",
			Help: "API calls waiting in the admission queue, by route class.",
		}, []string{"class"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.refused, m.inflight, m.queued} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
