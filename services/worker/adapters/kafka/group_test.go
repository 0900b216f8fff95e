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

	"github.com/pawnshop/auction/internal/kafkaadmin"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/services/worker/adapters/kafka"
	"github.com/pawnshop/auction/services/worker/app"
)

// topicStore is a Storer that counts the distinct records it stored, by
// topic, partition and offset, and keeps the topic of each record in the
// order written; every write takes delay.
type topicStore struct {
	mu       sync.Mutex
	seen     map[string]bool
	order    []string
	prepared map[*app.Prepared]app.Batch
	delay    time.Duration
	// gate, when set, holds every write until it is closed.
	gate chan struct{}
}

func newTopicStore(delay time.Duration) *topicStore {
	return &topicStore{seen: map[string]bool{}, prepared: map[*app.Prepared]app.Batch{}, delay: delay}
}

func (s *topicStore) Prepare(_ context.Context, b app.Batch) (*app.Prepared, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := new(app.Prepared)
	s.prepared[p] = b
	return p, nil
}

func (s *topicStore) Write(ctx context.Context, p *app.Prepared) error {
	s.mu.Lock()
	b := s.prepared[p]
	delete(s.prepared, p)
	s.mu.Unlock()
	if s.gate != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.gate:
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.delay):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range b {
		s.seen[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)] = true
		s.order = append(s.order, r.Topic)
	}
	return nil
}

// written is the topic of every record written, in the order written.
func (s *topicStore) written() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

func (s *topicStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// TestTwoMembersConsumeEveryTopic has a second member join a group whose
// first member is behind on a backlog spread over four topics (its
// partitions paused while its writer catches up): together they store every
// record. librdkafka keeps a partition paused across an eager rebalance, so
// a member that forgets to resume what it is assigned again stalls.
func TestTwoMembersConsumeEveryTopic(t *testing.T) {
	brokers := startKafka(t)
	topics := []string{"items", "buy-actions", "sell-actions", "pawn-actions"}
	if err := kafkaadmin.EnsureTopics(context.Background(), brokers, kafkasec.Config{}, kafkaadmin.TopicSpec{Partitions: 4, Replication: 1}, topics...); err != nil {
		t.Fatal(err)
	}
	const perTopic = 1000
	for _, tp := range topics {
		produce(t, brokers, tp, perTopic)
	}
	stores := []*topicStore{newTopicStore(5 * time.Millisecond), newTopicStore(5 * time.Millisecond)}
	// The first member's writer is stuck until the second member has
	// joined: the first member has paused its partitions by then.
	stores[0].gate = make(chan struct{})
	for i, s := range stores {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		if os.Getenv("GROUP_TEST_LOG") != "" {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", i)
		}
		c, err := kafka.NewConsumer(kafka.ConsumerConfig{Brokers: brokers, Group: "g", BatchSize: 100, BatchWait: 20 * time.Millisecond, ClientID: fmt.Sprint("m", i)},
			s, topics, log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = c.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			<-done
			dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer dcancel()
			_ = c.Drain(dctx)
			_ = c.Close()
		})
		if i == 1 {
			time.AfterFunc(time.Second, func() { close(stores[0].gate) })
		}
		time.Sleep(time.Second)
	}
	total := func() int { return stores[0].count() + stores[1].count() }
	deadline := time.Now().Add(30 * time.Second)
	for total() < len(topics)*perTopic {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d (%d + %d) of %d records", total(), stores[0].count(), stores[1].count(), len(topics)*perTopic)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("member 0 stored %d, member 1 stored %d", stores[0].count(), stores[1].count())
}
