// Package kafkapub publishes messages to Kafka with confluent-kafka-go and
// waits for the broker's acknowledgement. It is the one place that holds the
// producer settings of the platform (idempotent, acks=all), so the dispatcher
// and the benchmarks' baselines publish exactly the same way.
package kafkapub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/kafkasec"
)

// Config is the producer configuration.
type Config struct {
	// Brokers is the bootstrap list, "host:port,host:port".
	Brokers string
	// DeliveryTimeout bounds how long librdkafka keeps retrying one message
	// (message.timeout.ms); the caller's context may give up earlier.
	DeliveryTimeout time.Duration
	// Linger is how long the producer waits to batch messages (linger.ms).
	Linger time.Duration
	// ClientID names the producer in broker logs.
	ClientID string
	// Security is how the producer authenticates and encrypts (zero:
	// plaintext).
	Security kafkasec.Config
	// OnDelivery, when set, hears every delivery report (err nil when the
	// broker acknowledged), for metrics. It runs on the report loop: keep it
	// cheap.
	OnDelivery func(topic string, err error)
}

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("kafka producer is closed")

// Message is one record to publish.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers map[string]string
}

// Producer publishes messages and reports each one's delivery. Delivery
// reports and producer errors are drained by one goroutine; after a fatal
// error (for example a fenced idempotent producer) the librdkafka handle is
// replaced by a new one, as librdkafka requires.
type Producer struct {
	cfg Config
	log *slog.Logger

	mu     sync.RWMutex
	p      *kafka.Producer
	closed bool
	wg     sync.WaitGroup
}

// New creates a producer. It does not contact the brokers: librdkafka
// connects in the background, so a broker that is down makes Publish fail or
// time out rather than New.
func New(cfg Config, log *slog.Logger) (*Producer, error) {
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 30 * time.Second
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "auction"
	}
	pr := &Producer{cfg: cfg, log: log}
	p, err := pr.newHandle()
	if err != nil {
		return nil, err
	}
	pr.p = p
	return pr, nil
}

// ConfigMap returns the librdkafka settings every platform producer uses.
func ConfigMap(cfg Config) *kafka.ConfigMap {
	m := kafka.ConfigMap{
		"bootstrap.servers": cfg.Brokers,
		"client.id":         cfg.ClientID,
		// librdkafka leaves idempotence off by default: set it explicitly so a
		// retried produce never writes a message twice or out of order.
		"enable.idempotence":                    true,
		"acks":                                  "all",
		"max.in.flight.requests.per.connection": 5,
		"linger.ms":                             int(cfg.Linger / time.Millisecond),
		"message.timeout.ms":                    int(cfg.DeliveryTimeout / time.Millisecond),
		"socket.keepalive.enable":               true,
		"go.delivery.reports":                   true,
		// A delivery report is matched to its caller by Opaque and needs
		// only the topic and the error: by default confluent-kafka-go
		// copies every delivered record's key and value back into Go.
		"go.delivery.report.fields": "none",
		// confluent-kafka-go preallocates both Go channels at 1,000,000
		// entries (16 MB each) per producer: hundreds of MB in the dev stack,
		// which runs many producers. Events are drained by one goroutine as
		// they come (drain); Publish uses Produce, never the produce channel.
		"go.events.channel.size":  10000,
		"go.produce.channel.size": 100,
		"log_level":               3,
	}
	cfg.Security.Apply(m)
	return &m
}

func (pr *Producer) newHandle() (*kafka.Producer, error) {
	p, err := kafka.NewProducer(ConfigMap(pr.cfg))
	if err != nil {
		return nil, fmt.Errorf("create kafka producer: %w", err)
	}
	pr.wg.Add(1)
	go pr.drain(p)
	return p, nil
}

// drain consumes every event of one librdkafka handle: delivery reports are
// handed to the waiting Publish call, errors are logged, a fatal error
// replaces the handle.
func (pr *Producer) drain(p *kafka.Producer) {
	defer pr.wg.Done()
	for ev := range p.Events() {
		switch e := ev.(type) {
		case *kafka.Message:
			if pr.cfg.OnDelivery != nil && e.TopicPartition.Topic != nil {
				pr.cfg.OnDelivery(*e.TopicPartition.Topic, e.TopicPartition.Error)
			}
			if done, ok := e.Opaque.(chan error); ok {
				done <- e.TopicPartition.Error
			}
		case kafka.Error:
			if e.IsFatal() {
				pr.log.Error("kafka producer fatal error; recreating the producer", "err", e)
				go pr.replace(p)
				continue
			}
			pr.log.Warn("kafka producer error", "err", e, "code", e.Code())
		}
	}
}

func (pr *Producer) replace(old *kafka.Producer) {
	pr.mu.Lock()
	if pr.closed || pr.p != old {
		pr.mu.Unlock()
		return
	}
	p, err := pr.newHandle()
	if err != nil {
		pr.mu.Unlock()
		pr.log.Error("recreate kafka producer", "err", err)
		return
	}
	pr.p = p
	pr.mu.Unlock()
	old.Close() // fails what it still holds; their callers see the error
}

// Publish sends m and waits until the broker acknowledged it (all in-sync
// replicas), the delivery failed, or ctx ended. When ctx ends first the
// message may still be delivered later: callers that fall back to another
// store must tolerate a duplicate (events carry ids for this).
func (pr *Producer) Publish(ctx context.Context, m Message) error {
	return pr.Send(ctx, m.Topic, m.Key, m.Value, m.Headers)
}

// Send is Publish for a record given by its parts: a caller that keeps its
// messages in its own type (the dispatcher's app.Message) hands them over
// without building a second struct.
func (pr *Producer) Send(ctx context.Context, topic string, key, value []byte, headers map[string]string) error {
	done := make(chan error, 1)
	if err := pr.enqueue(topic, key, value, headers, done); err != nil {
		return err
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("deliver to %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("deliver to %s: %w", topic, context.Cause(ctx))
	}
}

// PublishAsync sends m without waiting; done (if not nil) receives the result.
func (pr *Producer) PublishAsync(m Message, done chan error) error {
	return pr.enqueue(m.Topic, m.Key, m.Value, m.Headers, done)
}

func (pr *Producer) enqueue(topic string, key, value []byte, headers map[string]string, done chan error) error {
	msg := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Key:            key,
		Value:          value,
	}
	if done != nil {
		msg.Opaque = done
	}
	for k, v := range headers {
		msg.Headers = append(msg.Headers, kafka.Header{Key: k, Value: []byte(v)})
	}
	pr.mu.RLock()
	defer pr.mu.RUnlock()
	if pr.closed {
		return ErrClosed
	}
	if err := pr.p.Produce(msg, nil); err != nil {
		return fmt.Errorf("enqueue to %s: %w", topic, err)
	}
	return nil
}

// Close flushes what is queued (up to ctx's deadline) and releases the producer.
func (pr *Producer) Close(ctx context.Context) {
	pr.mu.Lock()
	if pr.closed {
		pr.mu.Unlock()
		return
	}
	pr.closed = true
	p := pr.p
	pr.mu.Unlock()
	for p.Len() > 0 && ctx.Err() == nil {
		p.Flush(100)
	}
	p.Close()
	pr.wg.Wait()
}

// Ping asks the brokers for cluster metadata, proving at least one is
// reachable; it is meant for readiness checks, not for every publish.
func (pr *Producer) Ping(ctx context.Context) error {
	timeout := 2 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	pr.mu.RLock()
	p, closed := pr.p, pr.closed
	pr.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if _, err := p.GetMetadata(nil, false, int(timeout/time.Millisecond)); err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	return nil
}
