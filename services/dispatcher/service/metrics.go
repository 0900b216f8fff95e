package service

import (
	"time"

	"github.com/pawnshop/auction/services/dispatcher/adapters/kafka"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"github.com/prometheus/client_golang/prometheus"
)

// producedCounter counts the dispatcher's Kafka deliveries by topic and
// result; it feeds kafkapub's OnDelivery hook.
func producedCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auction_dispatcher_kafka_produced_total",
		Help: "Kafka delivery reports of the dispatcher's producer by topic and result (ok or error).",
	}, []string{"topic", "result"})
	return c, reg.Register(c)
}

// registerStateMetrics exposes the state of the dispatcher's parts, read at
// scrape time from memory (no I/O on a scrape).
func registerStateMetrics(reg prometheus.Registerer, m *app.Membership, f *redis.FraudList, buf *redis.WriteBuffer, a *kafka.AuditLog) error {
	collectors := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "auction_dispatcher_workers_joined", Help: "Workers in the quorum."},
			func() float64 { return float64(len(m.Workers())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "auction_dispatcher_write_buffer_depth", Help: "Events waiting in the write buffer at the last look (every replay interval)."},
			func() float64 { return float64(buf.LastDepth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "auction_dispatcher_fraud_list_clients", Help: "Clients on the fraud list in force."},
			func() float64 { return float64(f.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "auction_dispatcher_fraud_list_age_seconds", Help: "Age of the fraud list in force (0 when none was loaded)."},
			func() float64 { age, _ := f.Age(); return age.Round(time.Millisecond).Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "auction_dispatcher_audit_dropped_total", Help: "Audit records dropped because the queue was full."},
			func() float64 { return float64(a.Dropped()) }),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
