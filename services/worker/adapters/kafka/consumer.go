// Package kafka consumes the event topics for the worker (one consumer group,
// cooperative-sticky rebalancing, offsets committed only after the documents
// are stored) and parks poison records on dead-letter topics.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/services/worker/app"
	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerConfig configures the consumer.
type ConsumerConfig struct {
	Brokers string
	Group   string
	// BatchSize and BatchWait bound a batch: it is stored when it holds
	// BatchSize records or BatchWait passed since its first record.
	BatchSize int
	BatchWait time.Duration
	ClientID  string
	// Security is how the consumer authenticates and encrypts (zero:
	// plaintext).
	Security kafkasec.Config
}

// Storer stores a batch; it returns only when every record is stored (or
// dead-lettered), or with an error when it gave up.
type Storer interface {
	Store(ctx context.Context, b app.Batch) error
}

// Consumer is the ingest loop of one worker.
type Consumer struct {
	cfg    ConsumerConfig
	c      *kafka.Consumer
	store  Storer
	topics []string
	log    *slog.Logger

	// ctx is the context of the running loop, used by the rebalance callback
	// that runs inside Poll on the loop's goroutine.
	ctx     context.Context
	pending app.Batch

	// BeforeCommit, when set, runs after a batch is stored and before its
	// offsets are committed; an error skips the commit. Tests use it to stop
	// the flow between store and commit.
	BeforeCommit func(app.Batch) error

	// Metrics, when set, counts stored records and tracks consumer lag.
	Metrics *ConsumerMetrics

	closeOnce sync.Once
}

// NewConsumer creates the consumer; Run subscribes and consumes.
func NewConsumer(cfg ConsumerConfig, store Storer, topics []string, log *slog.Logger) (*Consumer, error) {
	m := kafka.ConfigMap{
		"bootstrap.servers":             cfg.Brokers,
		"group.id":                      cfg.Group,
		"client.id":                     cfg.ClientID,
		"partition.assignment.strategy": "cooperative-sticky",
		"enable.auto.commit":            false,
		"enable.auto.offset.store":      false,
		"auto.offset.reset":             "earliest",
		"session.timeout.ms":            10000,
		// Frequent heartbeats make a joining worker's rebalance start sooner.
		"heartbeat.interval.ms": 300,
		"max.poll.interval.ms":  300000,
		"log_level":             3,
	}
	cfg.Security.Apply(m)
	c, err := kafka.NewConsumer(&m)
	if err != nil {
		return nil, fmt.Errorf("create kafka consumer: %w", err)
	}
	return &Consumer{cfg: cfg, c: c, store: store, topics: topics, log: log}, nil
}

// Run consumes until ctx ends, then stores and commits what it holds and
// returns. It returns an error only on a fatal consumer error.
func (c *Consumer) Run(ctx context.Context) error {
	c.ctx = ctx
	if err := c.c.SubscribeTopics(c.topics, c.rebalance); err != nil {
		return fmt.Errorf("subscribe to %v: %w", c.topics, err)
	}
	var deadline time.Time
	for ctx.Err() == nil {
		timeout := 100 * time.Millisecond
		if len(c.pending) > 0 {
			timeout = max(time.Until(deadline), time.Millisecond)
		}
		switch e := c.c.Poll(int(timeout / time.Millisecond)).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				c.log.Warn("consume error", "err", e.TopicPartition.Error)
				break
			}
			if len(c.pending) == 0 {
				deadline = time.Now().Add(c.cfg.BatchWait)
			}
			rec := app.Record{
				Topic: *e.TopicPartition.Topic, Partition: e.TopicPartition.Partition,
				Offset: int64(e.TopicPartition.Offset), Key: e.Key, Value: e.Value,
			}
			if len(e.Headers) > 0 {
				rec.Headers = make(map[string]string, len(e.Headers))
				for _, h := range e.Headers {
					rec.Headers[h.Key] = string(h.Value)
				}
			}
			c.pending = append(c.pending, rec)
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("kafka consumer fatal error: %w", e)
			}
			c.log.Debug("kafka consumer error", "err", e)
		}
		if len(c.pending) >= c.cfg.BatchSize || (len(c.pending) > 0 && !time.Now().Before(deadline)) {
			if err := c.flush(ctx); err != nil {
				c.log.Warn("batch not committed; it will be consumed again", "err", err)
			}
		}
	}
	return nil
}

// flush stores the pending batch, then commits its offsets.
func (c *Consumer) flush(ctx context.Context) error {
	if len(c.pending) == 0 {
		return nil
	}
	batch := c.pending
	c.pending = nil
	if err := c.store.Store(ctx, batch); err != nil {
		return err
	}
	if c.BeforeCommit != nil {
		if err := c.BeforeCommit(batch); err != nil {
			return err
		}
	}
	if err := c.commit(batch); err != nil {
		c.rewind(batch)
		return err
	}
	c.observe(batch)
	return nil
}

// rewind moves the consumer back to the first record of a batch whose commit
// failed, on every partition still assigned, so the batch is consumed (and,
// idempotently, stored) again and its offsets get committed. Partitions that
// were revoked restart from their committed offset at their next owner.
func (c *Consumer) rewind(b app.Batch) {
	first := map[string]kafka.TopicPartition{}
	for _, r := range b {
		k := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
		if p, ok := first[k]; !ok || int64(p.Offset) > r.Offset {
			topic := r.Topic
			first[k] = kafka.TopicPartition{Topic: &topic, Partition: r.Partition, Offset: kafka.Offset(r.Offset)}
		}
	}
	for _, p := range first {
		if err := c.c.Seek(p, 0); err != nil {
			c.log.Debug("cannot rewind a partition after a failed commit; its next owner starts from its committed offset",
				"topic", *p.Topic, "partition", p.Partition, "err", err)
		}
	}
}

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
			Help: "Kafka records stored (or dead-lettered) and committed, by topic."}, []string{"topic"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "auction_worker_consumer_lag",
			Help: "Records between the last committed offset and the end of the partition, at the last commit."}, []string{"topic", "partition"}),
	}
	for _, col := range []prometheus.Collector{m.Committed, m.Lag} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe updates the metrics after a commit; the high watermarks come from
// librdkafka's cache (no request to the broker).
func (c *Consumer) observe(b app.Batch) {
	if c.Metrics == nil {
		return
	}
	last := map[string]app.Record{}
	for _, r := range b {
		c.Metrics.Committed.WithLabelValues(r.Topic).Inc()
		last[fmt.Sprintf("%s/%d", r.Topic, r.Partition)] = r
	}
	for _, r := range last {
		if _, high, err := c.c.GetWatermarkOffsets(r.Topic, r.Partition); err == nil && high >= 0 {
			c.Metrics.Lag.WithLabelValues(r.Topic, fmt.Sprint(r.Partition)).Set(float64(max(high-(r.Offset+1), 0)))
		}
	}
}

// commit commits, per partition, the offset after the batch's last record.
func (c *Consumer) commit(b app.Batch) error {
	type tp struct {
		topic string
		part  int32
	}
	next := map[tp]int64{}
	for _, r := range b {
		k := tp{r.Topic, r.Partition}
		if r.Offset+1 > next[k] {
			next[k] = r.Offset + 1
		}
	}
	offsets := make([]kafka.TopicPartition, 0, len(next))
	for k, off := range next {
		topic := k.topic
		offsets = append(offsets, kafka.TopicPartition{Topic: &topic, Partition: k.part, Offset: kafka.Offset(off)})
	}
	if _, err := c.c.CommitOffsets(offsets); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	return nil
}

// rebalance applies cooperative assignments incrementally. Before
// partitions are revoked, the records held for them are stored and
// committed, so the next owner starts right after them.
func (c *Consumer) rebalance(_ *kafka.Consumer, ev kafka.Event) error {
	cooperative := c.c.GetRebalanceProtocol() == "COOPERATIVE"
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		c.log.Info("partitions assigned", "count", len(e.Partitions))
		if cooperative {
			return c.c.IncrementalAssign(e.Partitions)
		}
		return c.c.Assign(e.Partitions)
	case kafka.RevokedPartitions:
		c.log.Info("partitions revoked", "count", len(e.Partitions), "lost", c.c.AssignmentLost())
		if c.c.AssignmentLost() {
			// Another member owns them already: committing would be refused.
			// What we hold is redelivered to it; storing is idempotent.
			c.dropPending(e.Partitions)
		} else if err := c.flush(c.ctx); err != nil {
			c.log.Warn("could not store before revocation; records will be consumed again", "err", err)
			c.dropPending(e.Partitions)
		}
		if cooperative {
			return c.c.IncrementalUnassign(e.Partitions)
		}
		return c.c.Unassign()
	}
	return nil
}

func (c *Consumer) dropPending(parts []kafka.TopicPartition) {
	revoked := map[string]bool{}
	for _, p := range parts {
		revoked[fmt.Sprintf("%s/%d", *p.Topic, p.Partition)] = true
	}
	kept := c.pending[:0]
	for _, r := range c.pending {
		if !revoked[fmt.Sprintf("%s/%d", r.Topic, r.Partition)] {
			kept = append(kept, r)
		}
	}
	c.pending = kept
}

// Drain stores and commits what the loop still holds; call it after Run
// returned, with the shutdown deadline.
func (c *Consumer) Drain(ctx context.Context) error {
	c.ctx = ctx
	return c.flush(ctx)
}

// Close leaves the group (revoking partitions cleanly) and frees the consumer.
func (c *Consumer) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if cerr := c.c.Close(); cerr != nil && !errors.Is(cerr, context.Canceled) {
			err = fmt.Errorf("close kafka consumer: %w", cerr)
		}
	})
	return err
}
