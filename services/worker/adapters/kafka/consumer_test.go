package kafka_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/kafkaadmin"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/services/worker/adapters/kafka"
	"github.com/pawnshop/auction/services/worker/app"
)

// recorder is a Storer that remembers every record it wrote; write, when
// set, runs before a batch is recorded and can block or fail it.
type recorder struct {
	mu       sync.Mutex
	seen     map[string]int // "partition/offset" -> times stored
	prepared map[*app.Prepared]app.Batch
	write    func(ctx context.Context, b app.Batch) error
	// prepares counts Prepare calls.
	prepares int
}

func newRecorder() *recorder {
	return &recorder{seen: map[string]int{}, prepared: map[*app.Prepared]app.Batch{}}
}

func (r *recorder) Prepare(_ context.Context, b app.Batch) (*app.Prepared, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := new(app.Prepared)
	r.prepared[p] = b
	r.prepares++
	return p, nil
}

func (r *recorder) Write(ctx context.Context, p *app.Prepared) error {
	r.mu.Lock()
	b := r.prepared[p]
	delete(r.prepared, p)
	write := r.write
	r.mu.Unlock()
	if write != nil {
		if err := write(ctx, b); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range b {
		r.seen[fmt.Sprintf("%d/%d", rec.Partition, rec.Offset)]++
	}
	return nil
}

func (r *recorder) preparedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prepares
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func startKafka(t testing.TB) string {
	t.Helper()
	k, err := embedded.StartKafka(context.Background(), embedded.KafkaConfig{Addr: "127.0.0.1:0", Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k.Brokers()
}

func produce(t testing.TB, brokers, topic string, n int) {
	t.Helper()
	p, err := kafkapub.New(kafkapub.Config{Brokers: brokers}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		if err := p.Publish(ctx, kafkapub.Message{Topic: topic, Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
}

// runConsumer runs a consumer of topic in group until stop is called.
func runConsumer(t testing.TB, brokers, group, topic string, store kafka.Storer, beforeCommit func(app.Batch) error) (stop func()) {
	t.Helper()
	return runConsumerLog(t, brokers, group, topic, store, beforeCommit, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// runConsumerLog is runConsumer logging to log.
func runConsumerLog(t testing.TB, brokers, group, topic string, store kafka.Storer, beforeCommit func(app.Batch) error, log *slog.Logger) (stop func()) {
	t.Helper()
	c, err := kafka.NewConsumer(kafka.ConsumerConfig{Brokers: brokers, Group: group, BatchSize: 8, BatchWait: 5 * time.Millisecond},
		store, []string{topic}, log)
	if err != nil {
		t.Fatal(err)
	}
	c.BeforeCommit = beforeCommit
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consumer: %v", err)
			}
			dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer dcancel()
			if err := c.Drain(dctx); err != nil && beforeCommit == nil {
				t.Errorf("drain: %v", err)
			}
			_ = c.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// startConsumer runs a consumer made with cfg until the end of t, then
// stops it and closes it.
func startConsumer(t testing.TB, cfg kafka.ConsumerConfig, store kafka.Storer, topics []string, log *slog.Logger) {
	t.Helper()
	c, err := kafka.NewConsumer(cfg, store, topics, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
		_ = c.Close()
	})
}

func waitFor(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOffsetsAreCommittedOnlyAfterStore stops the flow between store and
// commit: everything stored but not committed is consumed again by the next
// member of the group, and nothing is lost.
func TestOffsetsAreCommittedOnlyAfterStore(t *testing.T) {
	brokers := startKafka(t)
	const topic, n = "items", 40
	if err := kafkaadmin.EnsureTopics(context.Background(), brokers, kafkasec.Config{}, kafkaadmin.TopicSpec{Partitions: 4, Replication: 1}, topic); err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, topic, n)

	crashed := newRecorder()
	stop := runConsumer(t, brokers, "g", topic, crashed, func(app.Batch) error { return fmt.Errorf("killed before commit") })
	waitFor(t, 30*time.Second, func() bool { return crashed.distinct() == n }, "the first consumer to store everything")
	stop()

	second := newRecorder()
	stop = runConsumer(t, brokers, "g", topic, second, nil)
	waitFor(t, 30*time.Second, func() bool { return second.distinct() == n }, "the stored-but-uncommitted records to be consumed again")
	stop()

	// The second consumer committed: a third one has nothing left to do.
	produce(t, brokers, topic, 1)
	third := newRecorder()
	stop = runConsumer(t, brokers, "g", topic, third, nil)
	waitFor(t, 30*time.Second, func() bool { return third.distinct() >= 1 }, "the new record")
	time.Sleep(300 * time.Millisecond)
	stop()
	if got := third.distinct(); got != 1 {
		t.Fatalf("after commits, a new member consumed %d records, want only the 1 new one", got)
	}
}
