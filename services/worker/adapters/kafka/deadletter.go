package kafka

import (
	"context"
	"strconv"

	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/worker/app"
)

// DeadLetters publishes poison records to "<topic>.dlq" unchanged, with the
// reason and the origin in headers.
type DeadLetters struct {
	p *kafkapub.Producer
}

// NewDeadLetters returns the dead-letter publisher.
func NewDeadLetters(p *kafkapub.Producer) *DeadLetters { return &DeadLetters{p: p} }

// DeadLetter implements app.DeadLetters.
func (d *DeadLetters) DeadLetter(ctx context.Context, r app.Record, reason string) error {
	return d.p.Publish(ctx, kafkapub.Message{
		Topic: topics.DeadLetter(r.Topic),
		Key:   r.Key,
		Value: r.Value,
		Headers: map[string]string{
			topics.HeaderReason: reason,
			"origin-topic":      r.Topic,
			"origin-partition":  strconv.Itoa(int(r.Partition)),
			"origin-offset":     strconv.FormatInt(r.Offset, 10),
		},
	})
}
