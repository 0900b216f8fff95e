// Package kafka publishes the dispatcher's events and audit records to Kafka.
package kafka

import (
	"context"

	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/services/dispatcher/app"
)

// Broker publishes encoded events and waits for the broker's acknowledgement.
type Broker struct {
	producer *kafkapub.Producer
}

var _ app.Broker = (*Broker)(nil)

// NewBroker returns a Broker over producer.
func NewBroker(producer *kafkapub.Producer) *Broker { return &Broker{producer: producer} }

// Publish implements app.Broker.
func (b *Broker) Publish(ctx context.Context, m app.Message) error {
	return b.producer.Publish(ctx, kafkapub.Message{Topic: m.Topic, Key: []byte(m.Key), Value: m.Value, Headers: m.Headers})
}
