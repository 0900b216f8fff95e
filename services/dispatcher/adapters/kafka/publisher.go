// Package kafka publishes the dispatcher's events to Kafka.
package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/dispatcher/app"
	"google.golang.org/protobuf/proto"
)

// Publisher publishes events as binary protobuf, keyed by item id, and waits
// for the broker's acknowledgement for at most timeout.
type Publisher struct {
	producer *kafkapub.Producer
	timeout  time.Duration
}

// NewPublisher returns a Publisher over producer.
func NewPublisher(producer *kafkapub.Producer, timeout time.Duration) *Publisher {
	return &Publisher{producer: producer, timeout: timeout}
}

// Message encodes an event as the Kafka record the workers consume.
func Message(e app.Event) (kafkapub.Message, error) {
	value, err := proto.Marshal(e.Payload)
	if err != nil {
		return kafkapub.Message{}, fmt.Errorf("encode %s event: %w", e.Topic, err)
	}
	return kafkapub.Message{
		Topic: e.Topic,
		Key:   []byte(e.Key),
		Value: value,
		Headers: map[string]string{
			topics.HeaderEventID: e.ID,
			topics.HeaderType:    string(e.Payload.ProtoReflect().Descriptor().FullName()),
		},
	}, nil
}

// Publish implements app.Publisher.
func (p *Publisher) Publish(ctx context.Context, e app.Event) (app.WriteStatus, error) {
	m, err := Message(e)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.producer.Publish(ctx, m); err != nil {
		return 0, fmt.Errorf("%w: %w", app.ErrPublishUnavailable, err)
	}
	return app.Published, nil
}
