package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	ckafka "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/services/dispatcher/adapters/kafka"
	"github.com/pawnshop/auction/services/dispatcher/app"
)

// TestBrokerPublishesTheAppMessage: the broker hands the app's message to
// Kafka as it is: its topic, its key as the record key, its value and its
// headers, and an acknowledged publish returns nil; after the producer is
// closed, Publish fails.
func TestBrokerPublishesTheAppMessage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := embedded.StartKafka(ctx, embedded.KafkaConfig{Addr: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	p, err := kafkapub.New(kafkapub.Config{Brokers: k.Brokers(), DeliveryTimeout: 30 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b := kafka.NewBroker(p)
	m := app.Message{ID: "ev-1", Topic: "items", Key: "item-1", Value: []byte{0, 1, 2, 0xff},
		Headers: map[string]string{"event-id": "ev-1", "type": "events.v1.ItemAdded"}}
	if err := b.Publish(ctx, m); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	c, err := ckafka.NewConsumer(&ckafka.ConfigMap{"bootstrap.servers": k.Brokers(), "group.id": "publisher-test",
		"auto.offset.reset": "earliest", "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Subscribe(m.Topic, nil); err != nil {
		t.Fatal(err)
	}
	rec, err := c.ReadMessage(30 * time.Second)
	if err != nil {
		t.Fatalf("read the published record: %v", err)
	}
	if *rec.TopicPartition.Topic != m.Topic || string(rec.Key) != m.Key || !bytes.Equal(rec.Value, m.Value) {
		t.Errorf("record %s key %q value %v, want %s key %q value %v", *rec.TopicPartition.Topic, rec.Key, rec.Value, m.Topic, m.Key, m.Value)
	}
	got := map[string]string{}
	for _, h := range rec.Headers {
		got[h.Key] = string(h.Value)
	}
	if len(got) != len(m.Headers) {
		t.Errorf("headers %v, want %v", got, m.Headers)
	}
	for k, v := range m.Headers {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q", k, got[k], v)
		}
	}

	p.Close(ctx)
	if err := b.Publish(ctx, m); !errors.Is(err, kafkapub.ErrClosed) {
		t.Errorf("Publish after the producer closed: %v, want kafkapub.ErrClosed", err)
	}
}
