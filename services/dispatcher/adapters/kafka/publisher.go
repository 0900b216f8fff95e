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

// Publish implements app.Broker: the app's message goes to the producer as
// it is, its key as the record key and its headers as record headers.
func (b *Broker) Publish(ctx context.Context, m app.Message) error {
	return b.producer.Send(ctx, m.Topic, []byte(m.Key), m.Value, m.Headers)
}
