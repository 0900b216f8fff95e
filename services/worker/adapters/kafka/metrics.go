package kafka

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerMetrics counts what the consumer committed and how far behind the
// end of each partition it is.
type ConsumerMetrics struct {
	Committed *prometheus.CounterVec // by topic
	Lag       *prometheus.GaugeVec   // by topic, partition
}

// NewConsumerMetrics registers the consumer's metrics on reg.
func NewConsumerMetrics(reg prometheus.Registerer) (*ConsumerMetrics, error) {
	m := &ConsumerMetrics{
		Committed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auction_worker_records_committed_total",
			Help: "Kafka records stored (or dead-lettered) whose offsets were stored for commit, by topic."}, []string{"topic"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "auction_worker_consumer_lag",
			Help: "Records between the last stored offset and the end of the partition, when it was stored."}, []string{"topic", "partition"}),
	}
	for _, col := range []prometheus.Collector{m.Committed, m.Lag} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe updates the metrics once a batch's offsets are stored (librdkafka
// commits them within auto.commit.interval.ms); the high watermarks come
// from librdkafka's cache (no request to the broker).
func (c *Consumer) observe(s *slot) {
	if c.Metrics == nil {
		return
	}
	for k, e := range s.parts {
		c.Metrics.Committed.WithLabelValues(k.topic).Add(float64(e.n))
		if _, high, err := c.c.GetWatermarkOffsets(k.topic, k.part); err == nil && high >= 0 {
			c.Metrics.Lag.WithLabelValues(k.topic, fmt.Sprint(k.part)).Set(float64(max(high-e.next, 0)))
		}
	}
}
