package kafka

import (
	"context"
	"strconv"

	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/worker/app"
	"github.com/prometheus/client_golang/prometheus"
)

// Headers a dead-lettered record carries besides its own.
const (
	// HeaderReasonClass carries the reason alone (one of app.Reasons), for
	// tools that route dead letters; topics.HeaderReason has the full cause.
	HeaderReasonClass = "dlq-reason-class"
	HeaderOriginTopic = "origin-topic"
	// HeaderOriginPartition and HeaderOriginOffset locate the original record.
	HeaderOriginPartition = "origin-partition"
	HeaderOriginOffset    = "origin-offset"
)

// DeadLetters publishes poison records to "<topic>.dlq" unchanged (same key,
// value and headers, so that a fixed consumer can replay them), with the
// reason and the origin in added headers.
type DeadLetters struct {
	p *kafkapub.Producer
	// Metrics, when set, counts the records dead-lettered.
	Metrics *DeadLetterMetrics
}

// DeadLetterMetrics counts the dead-lettered records by topic and reason.
type DeadLetterMetrics struct {
	DeadLettered *prometheus.CounterVec // by topic, reason
}

// NewDeadLetterMetrics registers the dead-letter metrics on reg; the series
// of every event topic in events (topics.For(name).Events()) and every
// reason starts at zero, so that an alert on the rate sees the first one.
func NewDeadLetterMetrics(reg prometheus.Registerer, events []string) (*DeadLetterMetrics, error) {
	m := &DeadLetterMetrics{DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auction_worker_dead_lettered_total",
		Help: "Kafka records parked on their dead-letter topic because they can never be stored, by topic and reason (decode, invalid, encode, rejected)."},
		[]string{"topic", "reason"})}
	if err := reg.Register(m.DeadLettered); err != nil {
		return nil, err
	}
	for _, t := range events {
		for _, r := range app.Reasons {
			m.DeadLettered.WithLabelValues(t, string(r))
		}
	}
	return m, nil
}

// NewDeadLetters returns the dead-letter publisher.
func NewDeadLetters(p *kafkapub.Producer) *DeadLetters { return &DeadLetters{p: p} }

// DeadLetter implements app.DeadLetters.
func (d *DeadLetters) DeadLetter(ctx context.Context, r app.Record, why *app.PoisonError) error {
	headers := make(map[string]string, len(r.Headers)+5)
	for k, v := range r.Headers {
		headers[k] = v
	}
	headers[topics.HeaderReason] = why.Error()
	headers[HeaderReasonClass] = string(why.Reason)
	headers[HeaderOriginTopic] = r.Topic
	headers[HeaderOriginPartition] = strconv.Itoa(int(r.Partition))
	headers[HeaderOriginOffset] = strconv.FormatInt(r.Offset, 10)
	if err := d.p.Publish(ctx, kafkapub.Message{Topic: topics.DeadLetter(r.Topic), Key: r.Key, Value: r.Value, Headers: headers}); err != nil {
		return err
	}
	if d.Metrics != nil {
		d.Metrics.DeadLettered.WithLabelValues(r.Topic, string(why.Reason)).Inc()
	}
	return nil
}
