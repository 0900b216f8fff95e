// Package kafka consumes the event topics for the worker (one consumer group,
// offsets committed only after the documents are stored) and parks poison
// records on dead-letter topics.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/services/worker/app"
)

// ConsumerConfig configures the consumer.
type ConsumerConfig struct {
	Brokers string
	Group   string
	// BatchSize and BatchWait bound a batch: it is prepared (and handed to
	// the writer) when it holds BatchSize records or BatchWait passed since
	// its first record.
	BatchSize int
	BatchWait time.Duration
	ClientID  string
	// Security is how the consumer authenticates and encrypts (zero:
	// plaintext).
	Security kafkasec.Config
	// LeadTopic, when set, is consumed first after partitions are
	// assigned: the other topics wait until it is caught up (lead.go).
	// The worker's is the items topic.
	LeadTopic string
}

// Storer stores a batch in two steps, so that the consumer overlaps them:
// Prepare decodes and validates a batch (and parks its poison records)
// while the previous batch is written; Write stores a prepared batch and
// returns only when every record is stored, or with an error when it gave
// up (its context ended). Writes of different batches commute and are
// idempotent. *app.Ingest implements it.
type Storer interface {
	Prepare(ctx context.Context, b app.Batch) (*app.Prepared, error)
	Write(ctx context.Context, p *app.Prepared) error
}

// Consumer is the ingest loop of one worker. The loop polls, collects a
// batch and prepares it while a writer goroutine writes the previous one:
// at most one batch is being written and one prepared batch waits for the
// writer (plus the batch being collected). A batch's offsets are stored
// (and committed in the background by librdkafka's auto-commit) only after
// its write and every earlier write succeeded.
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

	pipe *pipeline
	// paused: every assigned partition is paused (the writer is behind).
	paused bool
	// lead is the state of the lead topic's head start (lead.go).
	lead lead

	// BeforeCommit, when set, runs after a batch is written and before its
	// offsets are stored; after an error the consumer stores no offset any
	// more, as if it had crashed between store and commit. Tests use it.
	BeforeCommit func(app.Batch) error
	frozen       bool

	// Metrics, when set, counts stored records and tracks consumer lag.
	Metrics *ConsumerMetrics

	closeOnce sync.Once
	// closing is set by Close: the revocation that leaving the group
	// triggers then neither writes nor commits (rebalance.go).
	closing atomic.Bool
}

// NewConsumer creates the consumer; Run subscribes and consumes.
func NewConsumer(cfg ConsumerConfig, store Storer, topics []string, log *slog.Logger) (*Consumer, error) {
	m := kafka.ConfigMap{
		"bootstrap.servers": cfg.Brokers,
		"group.id":          cfg.Group,
		"client.id":         cfg.ClientID,
		// Eager rebalancing, one round: a joining worker gets partitions
		// about 130 ms after it subscribes, and no partition waits more than
		// a few tens of ms (the members write and commit what they hold,
		// then rejoin at once). cooperative-sticky needs two rounds, and
		// librdkafka sends at most one JoinGroup a second per member, so the
		// partitions it moves waited about 1 s (TestSecondWorkerJoinsWithoutStall).
		// Range, not round-robin: it gives partition p of every event topic
		// to the same worker, and the dispatcher keys every event by item id
		// (same partition count and partitioner on every topic), so all the
		// events of one item are written by one worker, one write at a time.
		// Real MongoDB updates a document atomically anyway; the dev stack's
		// FerretDB v1 does not (two concurrent updates of one document can
		// lose one).
		"partition.assignment.strategy": "range",
		// The loop stores a batch's offsets once it is written; librdkafka
		// commits the stored offsets in the background (and synchronously
		// on revocation and close, see rebalance and Drain). The short
		// interval also wakes librdkafka's group loop often enough for
		// heartbeat.interval.ms to take effect (it otherwise wakes about
		// every 500 ms); a commit is sent only when offsets moved.
		"enable.auto.commit":       true,
		"auto.commit.interval.ms":  100,
		"enable.auto.offset.store": false,
		"auto.offset.reset":        "earliest",
		"session.timeout.ms":       10000,
		// Frequent heartbeats make a joining worker's rebalance start sooner.
		"heartbeat.interval.ms": 300,
		"max.poll.interval.ms":  300000,
		"log_level":             3,
	}
	if cfg.LeadTopic != "" {
		// The lead topic's partitions report reaching their end, so
		// the others wait no longer than needed (lead.go).
		m["enable.partition.eof"] = true
	}
	cfg.Security.Apply(m)
	c, err := kafka.NewConsumer(&m)
	if err != nil {
		return nil, fmt.Errorf("create kafka consumer: %w", err)
	}
	return &Consumer{cfg: cfg, c: c, store: store, topics: topics, log: log, pipe: newPipeline(store)}, nil
}

// stallPoll is how long the loop waits for the writer, when both slots are
// full, before it pauses its partitions and polls anyway (rebalances are
// served from Poll).
const stallPoll = 200 * time.Millisecond

// Run consumes until ctx ends and returns, leaving what it holds to Drain.
// It returns an error only on a fatal consumer error.
func (c *Consumer) Run(ctx context.Context) error {
	c.ctx = ctx
	if err := c.c.SubscribeTopics(c.topics, c.rebalance); err != nil {
		return fmt.Errorf("subscribe to %v: %w", c.topics, err)
	}
	var deadline time.Time
	for ctx.Err() == nil {
		c.collect()
		ready := len(c.pending) >= c.cfg.BatchSize || (len(c.pending) > 0 && !time.Now().Before(deadline))
		if ready && c.pipe.hasRoom() {
			_ = c.dispatch(ctx) // logged; its records are consumed again
			ready = false
		}
		timeout := 100 * time.Millisecond
		switch {
		case ready:
			// Both slots are full: wait for the writer, but keep polling
			// (paused, so nothing more is fetched) for rebalances.
			select {
			case s := <-c.pipe.results:
				_ = c.finish(s) // logged; a failed batch is consumed again
				continue
			case <-ctx.Done():
				continue
			case <-time.After(stallPoll):
			}
			c.pause()
			timeout = 0
		case len(c.pending) > 0:
			c.resume()
			timeout = max(time.Until(deadline), time.Millisecond)
		default:
			c.resume()
		}
		c.checkLead()
		switch e := c.c.Poll(int(timeout / time.Millisecond)).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				c.log.Warn("consume error", "err", e.TopicPartition.Error)
				break
			}
			c.leadEvent(*e.TopicPartition.Topic, e.TopicPartition.Partition, false)
			if len(c.pending) == 0 {
				deadline = time.Now().Add(c.cfg.BatchWait)
			}
			c.pending = append(c.pending, record(e))
		case kafka.PartitionEOF:
			if e.Topic != nil {
				c.leadEvent(*e.Topic, e.Partition, true)
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("kafka consumer fatal error: %w", e)
			}
			c.log.Debug("kafka consumer error", "err", e)
		}
	}
	return nil
}

func record(e *kafka.Message) app.Record {
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
	return rec
}

// Drain writes what the consumer still holds (the batch being written, the
// prepared one and the one being collected), stores their offsets and
// commits synchronously; call it after Run returned, with the shutdown
// deadline: writes still running when ctx ends are abandoned (their records
// are consumed again by the next owner).
func (c *Consumer) Drain(ctx context.Context) error {
	err := c.flushAll(ctx)
	return errors.Join(err, c.commitSync())
}

// leaveTimeout bounds how long Close waits for the revocation of leave.
const leaveTimeout = 3 * time.Second

// leave unsubscribes and polls until the revocation it causes has been
// served, so that Close finds nothing assigned. The revocation that closing
// a consumer with partitions causes can hang: its callback must unassign,
// and librdkafka's assign can wait forever on a closing consumer
// (librdkafka issue 4884; unsubscribing first is the workaround of issue
// 4527). Records still polled are dropped: Drain stored what was held, and
// the next owner consumes the rest.
func (c *Consumer) leave() {
	if err := c.c.Unsubscribe(); err != nil {
		c.log.Warn("could not unsubscribe before closing", "err", err)
		return
	}
	for deadline := time.Now().Add(leaveTimeout); time.Now().Before(deadline); {
		parts, err := c.c.Assignment()
		if err != nil || len(parts) == 0 {
			return
		}
		c.c.Poll(50) // serves the revocation (rebalance)
	}
	c.log.Warn("partitions still assigned when closing", "after", leaveTimeout)
}

// Close leaves the group (revoking partitions cleanly) and frees the
// consumer; writes still running are abandoned.
func (c *Consumer) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.pipe.abort()
		if c.ctx == nil {
			c.ctx = context.Background()
		}
		c.leave()
		if cerr := c.c.Close(); cerr != nil && !errors.Is(cerr, context.Canceled) {
			err = fmt.Errorf("close kafka consumer: %w", cerr)
		}
		c.pipe.stop()
	})
	return err
}
