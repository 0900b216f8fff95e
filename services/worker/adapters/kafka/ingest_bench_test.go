package kafka_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"github.com/google/uuid"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/worker/adapters/kafka"
	"github.com/pawnshop/auction/services/worker/adapters/mongo"
	"github.com/pawnshop/auction/services/worker/app"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// timed is a Storer that adds up the time spent preparing and writing.
type timed struct {
	s              kafka.Storer
	mu             sync.Mutex
	prepare, write time.Duration
	batches        int
}

func (t *timed) Prepare(ctx context.Context, b app.Batch) (*app.Prepared, error) {
	start := time.Now()
	defer func() { t.mu.Lock(); t.prepare += time.Since(start); t.batches++; t.mu.Unlock() }()
	return t.s.Prepare(ctx, b)
}

func (t *timed) Write(ctx context.Context, p *app.Prepared) error {
	start := time.Now()
	defer func() { t.mu.Lock(); t.write += time.Since(start); t.mu.Unlock() }()
	return t.s.Write(ctx, p)
}

// serial is a Storer that prepares a batch only once the previous write
// ended: the consumer's work without overlap, for comparison.
type serial struct {
	in   *app.Ingest
	idle chan struct{}
}

func (s *serial) Prepare(ctx context.Context, b app.Batch) (*app.Prepared, error) {
	<-s.idle
	return s.in.Prepare(ctx, b)
}

func (s *serial) Write(ctx context.Context, p *app.Prepared) error {
	defer func() { s.idle <- struct{}{} }()
	return s.in.Write(ctx, p)
}

// TestIngestThroughput (INGEST_BENCH=1) stores INGEST_BENCH_N item events
// from the embedded broker into the embedded database through app.Ingest,
// with and without overlapping preparation and writing, and logs the rates.
func TestIngestThroughput(t *testing.T) {
	if os.Getenv("INGEST_BENCH") == "" {
		t.Skip("set INGEST_BENCH=1 to measure ingest throughput")
	}
	n := 20000
	if v := os.Getenv("INGEST_BENCH_N"); v != "" {
		fmt.Sscan(v, &n)
	}
	brokers := startKafka(t)
	names := topics.For(clustername.MustParse("bench"))
	ensureTopic(t, brokers, names.Items)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := kafkapub.New(kafkapub.Config{Brokers: brokers}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		id := uuid.NewString()
		ev := &eventsv1.ItemAdded{Envelope: &eventsv1.Envelope{EventId: uuid.NewString(), AcceptedAt: timestamppb.Now(), RequestId: uuid.NewString()},
			Item: &auctionv1.Item{Id: id, Name: fmt.Sprint("item ", i), Category: auctionv1.Category_CATEGORY_MOTOR, PriceCents: 100,
				State: auctionv1.State_STATE_NEW, CreatedAt: timestamppb.Now()}}
		value, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(ctx, kafkapub.Message{Topic: names.Items, Key: []byte(id), Value: value,
			Headers: map[string]string{topics.HeaderEventID: ev.GetEnvelope().GetEventId()}}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close(ctx)
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}

	for round, overlap := range []bool{true, false, true, false} {
		m, err := embedded.StartMongo(ctx, embedded.MongoConfig{})
		if err != nil {
			t.Fatal(err)
		}
		store := new(mongo.Store)
		if err := store.Open(ctx, m.URI(), "bench"); err != nil {
			t.Fatal(err)
		}
		if err := store.EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
		in := app.NewIngest(app.Flows(names, v), store, nil, log)
		var s kafka.Storer = in
		if !overlap {
			idle := make(chan struct{}, 1)
			idle <- struct{}{}
			s = &serial{in: in, idle: idle}
		}
		tm := &timed{s: s}
		s = tm
		c, err := kafka.NewConsumer(kafka.ConsumerConfig{Brokers: brokers, Group: fmt.Sprint("bench-", round), BatchSize: 500, BatchWait: 50 * time.Millisecond},
			s, []string{names.Items}, log)
		if err != nil {
			t.Fatal(err)
		}
		c.Metrics, _ = kafka.NewConsumerMetrics(prometheus.NewRegistry())
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- c.Run(runCtx) }()
		committed := func() float64 {
			var m dto.Metric
			_ = c.Metrics.Committed.WithLabelValues(names.Items).Write(&m)
			return m.GetCounter().GetValue()
		}
		for committed() < float64(n) {
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(start)
		cancel()
		<-done
		_ = c.Drain(ctx)
		_ = c.Close()
		_ = store.Close(ctx)
		m.Close()
		t.Logf("overlap=%v: %d events in %v, %.0f/s (%d batches; prepare %v, write %v in all)", overlap, n, took.Round(time.Millisecond), float64(n)/took.Seconds(),
			tm.batches, tm.prepare.Round(time.Millisecond), tm.write.Round(time.Millisecond))
	}
}
