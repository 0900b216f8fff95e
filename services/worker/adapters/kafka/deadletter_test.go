package kafka_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	ckafka "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/kafkaadmin"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/worker/adapters/kafka"
	"github.com/pawnshop/auction/services/worker/app"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestDeadLetterKeepsTheRecordAndCountsIt: the parked record has the
// original key, value and headers, plus the reason and origin; the counter
// of its topic and reason goes up.
func TestDeadLetterKeepsTheRecordAndCountsIt(t *testing.T) {
	brokers := startKafka(t)
	names := topics.For(clustername.MustParse("shop-2"))
	dlqTopic := topics.DeadLetter(names.BuyActions)
	if dlqTopic != "shop-2.buy-actions.dlq" {
		t.Fatalf("dead-letter topic %q, want shop-2.buy-actions.dlq", dlqTopic)
	}
	if err := kafkaadmin.EnsureTopics(context.Background(), brokers, kafkasec.Config{}, kafkaadmin.TopicSpec{Partitions: 1, Replication: 1}, dlqTopic); err != nil {
		t.Fatal(err)
	}
	p, err := kafkapub.New(kafkapub.Config{Brokers: brokers}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	reg := prometheus.NewRegistry()
	m, err := kafka.NewDeadLetterMetrics(reg, names.Events())
	if err != nil {
		t.Fatal(err)
	}
	d := kafka.NewDeadLetters(p)
	d.Metrics = m

	rec := app.Record{Topic: names.BuyActions, Partition: 3, Offset: 42, Key: []byte("item-1"), Value: []byte{0x0a, 0x00, 0xff},
		Headers: map[string]string{topics.HeaderEventID: "ev-1", "traceparent": "00-abc-def-01"}}
	why := &app.PoisonError{Reason: app.ReasonEncode, Err: errors.New("seconds 1000000000000 outside years 1 to 9999")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.DeadLetter(ctx, rec, why); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, m.DeadLettered.WithLabelValues(names.BuyActions, "encode")); got != 1 {
		t.Errorf("auction_worker_dead_lettered_total{shop-2.buy-actions,encode} = %v, want 1", got)
	}
	if got := counterValue(t, m.DeadLettered.WithLabelValues(names.Items, "decode")); got != 0 {
		t.Errorf("other series = %v, want 0", got)
	}

	c, err := ckafka.NewConsumer(&ckafka.ConfigMap{"bootstrap.servers": brokers, "group.id": "dlq-reader", "auto.offset.reset": "earliest", "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Assign([]ckafka.TopicPartition{{Topic: &dlqTopic, Partition: 0, Offset: ckafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	msg, err := c.ReadMessage(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Key) != "item-1" || string(msg.Value) != string(rec.Value) {
		t.Errorf("parked key %q value %x, want the original bytes", msg.Key, msg.Value)
	}
	headers := map[string]string{}
	for _, h := range msg.Headers {
		headers[h.Key] = string(h.Value)
	}
	for k, want := range map[string]string{
		topics.HeaderReason: why.Error(), kafka.HeaderReasonClass: "encode", kafka.HeaderOriginTopic: names.BuyActions,
		kafka.HeaderOriginPartition: "3", kafka.HeaderOriginOffset: "42", topics.HeaderEventID: "ev-1", "traceparent": "00-abc-def-01",
	} {
		if headers[k] != want {
			t.Errorf("header %s = %q, want %q", k, headers[k], want)
		}
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
