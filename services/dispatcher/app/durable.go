package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pawnshop/auction/internal/telemetry"
	"github.com/pawnshop/auction/internal/topics"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// Message is an encoded event, as the broker and the write buffer keep it.
type Message struct {
	ID      string
	Topic   string
	Key     string
	Value   []byte
	Headers map[string]string
}

// Broker sends one record (the parts of a Message) and returns once the
// broker acknowledged it. internal/kafkapub's Producer is one, as it is: no
// adapter re-packs the message.
type Broker interface {
	Send(ctx context.Context, topic string, key, value []byte, headers map[string]string) error
}

// send hands m to b by its parts.
func send(ctx context.Context, b Broker, m Message) error {
	return b.Send(ctx, m.Topic, []byte(m.Key), m.Value, m.Headers)
}

// Buffer is the durable fallback for events the broker did not take in time
// (the seed's TODO). It keeps messages in arrival order.
type Buffer interface {
	// Append stores m behind everything already buffered.
	Append(ctx context.Context, m Message) error
	// Holds reports whether messages with this key are waiting.
	Holds(ctx context.Context, key string) (bool, error)
	// MayHold is a local hint, without I/O: false means the buffer was
	// empty at the last look and nothing was appended since.
	MayHold() bool
}

// encode turns an accepted event into its message.
func encode(e Event) (Message, error) {
	value, err := proto.Marshal(e.Payload)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s event: %w", e.Topic, err)
	}
	return Message{
		ID: e.ID, Topic: e.Topic, Key: e.Key, Value: value,
		Headers: map[string]string{
			topics.HeaderEventID: e.ID,
			topics.HeaderType:    string(e.Payload.ProtoReflect().Descriptor().FullName()),
		},
	}, nil
}

var tracer = otel.Tracer("github.com/pawnshop/auction/services/dispatcher/app")

// DurablePublisher makes every accepted write durable in the broker or, when
// the broker fails or is slower than the publish timeout, in the buffer. An
// item whose events are waiting in the buffer has its new events buffered
// behind them, so its events reach the broker in order.
type DurablePublisher struct {
	broker  Broker
	buffer  Buffer
	timeout time.Duration
	log     *slog.Logger
}

// NewDurablePublisher returns the publisher; timeout bounds the wait for the
// broker's acknowledgement before falling back to the buffer.
func NewDurablePublisher(b Broker, buf Buffer, timeout time.Duration, log *slog.Logger) *DurablePublisher {
	return &DurablePublisher{broker: b, buffer: buf, timeout: timeout, log: log}
}

// Publish implements Publisher.
func (p *DurablePublisher) Publish(ctx context.Context, e Event) (WriteStatus, error) {
	m, err := encode(e)
	if err != nil {
		return 0, err
	}
	ctx, span := tracer.Start(ctx, "publish "+m.Topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "kafka"), attribute.String("messaging.destination.name", m.Topic),
			attribute.String("auction.event_id", m.ID)))
	defer span.End()
	// The event carries the trace to the worker that stores it, also when
	// it travels through the write buffer.
	telemetry.Inject(ctx, m.Headers)
	if p.buffer.MayHold() {
		held, err := p.buffer.Holds(ctx, m.Key)
		switch {
		case err != nil:
			p.log.WarnContext(ctx, "cannot check the write buffer; publishing directly", "key", m.Key, "err", err)
		case held:
			return p.toBuffer(ctx, m, errors.New("earlier events of this item are buffered"))
		}
	}
	pctx, cancel := context.WithTimeout(ctx, p.timeout)
	err = send(pctx, p.broker, m)
	cancel()
	if err == nil {
		return Published, nil
	}
	return p.toBuffer(ctx, m, err)
}

func (p *DurablePublisher) toBuffer(ctx context.Context, m Message, why error) (WriteStatus, error) {
	// The buffer write must not be cut short by a request deadline that the
	// broker wait already consumed: a write that reaches Redis is kept.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := p.buffer.Append(bctx, m); err != nil {
		p.log.ErrorContext(ctx, "write refused: neither the broker nor the write buffer took it", "event_id", m.ID, "broker_err", why, "buffer_err", err)
		return 0, fmt.Errorf("%w: broker: %w; buffer: %w", ErrPublishUnavailable, why, err)
	}
	p.log.WarnContext(ctx, "event buffered", "event_id", m.ID, "topic", m.Topic, "key", m.Key, "why", why)
	return Buffered, nil
}
