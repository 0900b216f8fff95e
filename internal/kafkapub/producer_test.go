package kafkapub_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	ckafka "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/kafkapub"
)

// startProducer starts an embedded broker (one partition per topic) and a
// producer on it with cfg (its Brokers set), both closed at the end of tb,
// and returns the broker's bootstrap list and the producer.
func startProducer(tb testing.TB, cfg kafkapub.Config) (string, *kafkapub.Producer) {
	tb.Helper()
	k, err := embedded.StartKafka(context.Background(), embedded.KafkaConfig{Addr: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(k.Close)
	cfg.Brokers = k.Brokers()
	p, err := kafkapub.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(context.Background()) })
	return cfg.Brokers, p
}

// TestPublishDeliversEveryPart: Publish, Send and PublishAsync each deliver
// their record's topic, key, value and headers, Ping answers while the
// producer is open, and after Close every call fails with ErrClosed.
func TestPublishDeliversEveryPart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	delivered := make(chan string, 3)
	brokers, p := startProducer(t, kafkapub.Config{OnDelivery: func(topic string, err error) {
		if err == nil {
			delivered <- topic
		}
	}})
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	const topic = "parts"
	if err := p.Publish(ctx, kafkapub.Message{Topic: topic, Key: []byte("k1"), Value: []byte("v1"), Headers: map[string]string{"h": "1"}}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := p.Send(ctx, topic, []byte("k2"), []byte("v2"), map[string]string{"h": "2"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	done := make(chan error, 1)
	if err := p.PublishAsync(kafkapub.Message{Topic: topic, Key: []byte("k3"), Value: []byte("v3"), Headers: map[string]string{"h": "3"}}, done); err != nil {
		t.Fatalf("PublishAsync: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("PublishAsync delivery: %v", err)
	}
	for range 3 {
		if got := <-delivered; got != topic {
			t.Errorf("OnDelivery heard %q, want %q", got, topic)
		}
	}

	c, err := ckafka.NewConsumer(&ckafka.ConfigMap{"bootstrap.servers": brokers, "group.id": "kafkapub-test",
		"auto.offset.reset": "earliest", "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"1", "2", "3"} {
		rec, err := c.ReadMessage(30 * time.Second)
		if err != nil {
			t.Fatalf("read record %s: %v", n, err)
		}
		if string(rec.Key) != "k"+n || string(rec.Value) != "v"+n || len(rec.Headers) != 1 ||
			rec.Headers[0].Key != "h" || string(rec.Headers[0].Value) != n {
			t.Errorf("record %s: key %q value %q headers %v", n, rec.Key, rec.Value, rec.Headers)
		}
	}

	p.Close(ctx)
	for name, err := range map[string]error{
		"Publish":      p.Publish(ctx, kafkapub.Message{Topic: topic}),
		"Send":         p.Send(ctx, topic, nil, nil, nil),
		"PublishAsync": p.PublishAsync(kafkapub.Message{Topic: topic}, nil),
		"Ping":         p.Ping(ctx),
	} {
		if !errors.Is(err, kafkapub.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// BenchmarkPublishAsync publishes 1 KiB records without waiting, 256 in
// flight, and waits for every delivery report: the producer's own cost per
// record (B/op and allocs/op include the delivery report's way back).
func BenchmarkPublishAsync(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, p := startProducer(b, kafkapub.Config{Linger: 2 * time.Millisecond})
	if err := p.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 1024)
	const inFlight = 256
	done := make(chan error, inFlight)
	b.ReportAllocs()
	sent := 0
	for b.Loop() {
		if sent == inFlight {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			sent--
		}
		if err := p.PublishAsync(kafkapub.Message{Topic: "bench", Key: []byte("key"), Value: value, Headers: map[string]string{"h": "v"}}, done); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	for ; sent > 0; sent-- {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
