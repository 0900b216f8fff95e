package kafka_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/kafkaadmin"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/services/worker/adapters/kafka"
)

// consumeWithLead runs a consumer of topics with lead as its LeadTopic into
// a new topicStore until the end of t.
func consumeWithLead(t *testing.T, brokers, lead string, batch int, topics ...string) *topicStore {
	t.Helper()
	store := newTopicStore(0)
	startConsumer(t, kafka.ConsumerConfig{Brokers: brokers, Group: "lead", BatchSize: batch, BatchWait: 5 * time.Millisecond, LeadTopic: lead},
		store, topics, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return store
}

// TestLeadTopicGoesFirst: behind a backlog on both topics, the consumer
// writes the lead topic's records first; the other topic's come once every
// lead partition is within a batch of its end. Without the lead, the
// broker's fetches mix both topics from the first batch on.
func TestLeadTopicGoesFirst(t *testing.T) {
	brokers := startKafka(t)
	const items, buys, n, batch, partitions = "shop.items", "shop.buy-actions", 400, 20, 4
	if err := kafkaadmin.EnsureTopics(context.Background(), brokers, kafkasec.Config{}, kafkaadmin.TopicSpec{Partitions: partitions, Replication: 1}, items, buys); err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, buys, n) // the followers' backlog is there first
	produce(t, brokers, items, n)
	rec := consumeWithLead(t, brokers, items, batch, items, buys)
	waitFor(t, 30*time.Second, func() bool { return len(rec.written()) >= 2*n }, "both backlogs written")
	got := rec.written()
	first := len(got)
	for i, topic := range got {
		if topic == buys {
			first = i
			break
		}
	}
	// Each lead partition may still have up to a batch left when the
	// followers are resumed.
	if min := n - partitions*batch; first < min {
		t.Errorf("the first %s record was written after %d %s records, want at least %d (of %d)", buys, first, items, min, n)
	}
	if len(got) != 2*n {
		t.Errorf("wrote %d records, want %d", len(got), 2*n)
	}
}

// TestFollowersDoNotWaitForAnEmptyLead: a lead topic with nothing to read
// holds nothing up: the other topic's backlog is all written.
func TestFollowersDoNotWaitForAnEmptyLead(t *testing.T) {
	brokers := startKafka(t)
	const items, buys, n = "shop.items", "shop.buy-actions", 50
	if err := kafkaadmin.EnsureTopics(context.Background(), brokers, kafkasec.Config{}, kafkaadmin.TopicSpec{Partitions: 4, Replication: 1}, items, buys); err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, buys, n)
	rec := consumeWithLead(t, brokers, items, 20, items, buys)
	waitFor(t, 30*time.Second, func() bool { return len(rec.written()) >= n }, "the followers' backlog written")
	if got := len(rec.written()); got != n {
		t.Errorf("wrote %d records, want %d", got, n)
	}
}
