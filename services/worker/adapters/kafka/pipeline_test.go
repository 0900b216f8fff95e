package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ckafka "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/kafkaadmin"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/services/worker/app"
)

func ensureTopic(t testing.TB, brokers, topic string) {
	t.Helper()
	if err := kafkaadmin.EnsureTopics(context.Background(), brokers, kafkasec.Config{}, kafkaadmin.TopicSpec{Partitions: 4, Replication: 1}, topic); err != nil {
		t.Fatal(err)
	}
}

// committed reads the group's committed offsets of topic's 4 partitions
// (negative: none), through a client that does not join the group.
func committed(t testing.TB, brokers, group, topic string) map[int32]int64 {
	t.Helper()
	c, err := ckafka.NewConsumer(&ckafka.ConfigMap{"bootstrap.servers": brokers, "group.id": group, "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parts := make([]ckafka.TopicPartition, 4)
	for i := range parts {
		parts[i] = ckafka.TopicPartition{Topic: &topic, Partition: int32(i)}
	}
	got, err := c.Committed(parts, 10000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, p := range got {
		out[p.Partition] = int64(p.Offset)
	}
	return out
}

// TestPreparesWhileWriting: while the first batch's write is blocked, the
// loop keeps consuming and prepares the next batch; it prepares no more
// than one batch ahead of the writer.
func TestPreparesWhileWriting(t *testing.T) {
	brokers := startKafka(t)
	const topic, n = "items", 80
	ensureTopic(t, brokers, topic)
	produce(t, brokers, topic, n)

	release := make(chan struct{})
	var writes atomic.Int32
	rec := newRecorder()
	rec.write = func(context.Context, app.Batch) error {
		if writes.Add(1) == 1 {
			<-release
		}
		return nil
	}
	runConsumer(t, brokers, "g", topic, rec, nil)
	waitFor(t, 30*time.Second, func() bool { return rec.preparedCount() >= 2 }, "the next batch to be prepared while the first is written")
	time.Sleep(300 * time.Millisecond)
	if got := rec.preparedCount(); got != 2 {
		t.Fatalf("%d batches prepared while the first write is blocked, want 2 (one written, one waiting)", got)
	}
	if rec.distinct() != 0 {
		t.Fatal("a record was stored while the only write was blocked")
	}
	close(release)
	waitFor(t, 30*time.Second, func() bool { return rec.distinct() == n }, "every record to be stored")
}

// TestOffsetsNeverAheadOfStored: while the writer is blocked nothing is
// committed; when the write fails, the batch and those after it are
// consumed again; at every moment, every record below a committed offset
// was stored; in the end everything is committed.
func TestOffsetsNeverAheadOfStored(t *testing.T) {
	brokers := startKafka(t)
	const topic, group, n = "items", "g", 200
	ensureTopic(t, brokers, topic)
	produce(t, brokers, topic, n)

	release := make(chan struct{})
	var writes atomic.Int32
	rec := newRecorder()
	rec.write = func(ctx context.Context, b app.Batch) error {
		switch writes.Add(1) {
		case 1:
			<-release
			return errors.New("database gave up")
		case 5:
			return errors.New("database gave up again")
		}
		time.Sleep(5 * time.Millisecond)
		return nil
	}
	stop := runConsumer(t, brokers, group, topic, rec, nil)
	waitFor(t, 30*time.Second, func() bool { return rec.preparedCount() >= 2 }, "a batch prepared behind the blocked write")
	time.Sleep(time.Second) // two auto-commit intervals
	for p, off := range committed(t, brokers, group, topic) {
		if off >= 0 {
			t.Fatalf("partition %d committed at %d while no write had succeeded", p, off)
		}
	}
	close(release)

	checkCommitted := func() (total int64) {
		offs := committed(t, brokers, group, topic)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for p, off := range offs {
			for o := int64(0); o < off; o++ {
				if rec.seen[fmt.Sprintf("%d/%d", p, o)] == 0 {
					t.Fatalf("partition %d committed at %d but offset %d was never stored", p, off, o)
				}
			}
			total += max(off, 0)
		}
		return total
	}
	waitFor(t, 30*time.Second, func() bool { return checkCommitted() == n }, "every offset committed, never ahead of the stored records")
	stop()
	if rec.distinct() != n {
		t.Fatalf("%d distinct records stored, want %d", rec.distinct(), n)
	}
}

// TestRevocationMidWriteCommitsWhatWasWritten: a second member joins while
// the first is writing; the first finishes its writes and commits before
// giving partitions up, so the second continues right after them: every
// record is stored, none by both members.
func TestRevocationMidWriteCommitsWhatWasWritten(t *testing.T) {
	brokers := startKafka(t)
	const topic, group, n = "items", "g", 400
	ensureTopic(t, brokers, topic)
	produce(t, brokers, topic, n)

	slow := newRecorder()
	slow.write = func(context.Context, app.Batch) error {
		time.Sleep(50 * time.Millisecond)
		return nil
	}
	runConsumer(t, brokers, group, topic, slow, nil)
	waitFor(t, 30*time.Second, func() bool { return slow.distinct() > 0 }, "the first member to store a batch")

	second := newRecorder()
	runConsumer(t, brokers, group, topic, second, nil)
	waitFor(t, 60*time.Second, func() bool {
		slow.mu.Lock()
		defer slow.mu.Unlock()
		second.mu.Lock()
		defer second.mu.Unlock()
		all := map[string]bool{}
		for k := range slow.seen {
			all[k] = true
		}
		for k := range second.seen {
			all[k] = true
		}
		return len(all) == n
	}, "every record stored by one member or the other")
	if second.distinct() == 0 {
		t.Fatal("the second member got no partition")
	}
	dup := 0
	for k := range second.seen {
		if slow.seen[k] > 0 {
			dup++
		}
	}
	t.Logf("first member stored %d, second %d, both %d", slow.distinct(), second.distinct(), dup)
	if dup > 0 {
		t.Fatalf("%d records stored by both members: the first did not commit what it wrote before giving its partitions up", dup)
	}
}

// TestShutdownDrains: Run ends while batches are being written, prepared
// and collected; Drain writes them all and commits, so the next member of
// the group has nothing left.
func TestShutdownDrains(t *testing.T) {
	brokers := startKafka(t)
	const topic, group, n = "items", "g", 120
	ensureTopic(t, brokers, topic)
	produce(t, brokers, topic, n)

	rec := newRecorder()
	var slowed sync.Once
	started := make(chan struct{})
	rec.write = func(context.Context, app.Batch) error {
		slowed.Do(func() { close(started) })
		time.Sleep(100 * time.Millisecond)
		return nil
	}
	stop := runConsumer(t, brokers, group, topic, rec, nil)
	<-started
	waitFor(t, 30*time.Second, func() bool { return rec.preparedCount() >= 2 }, "a batch waiting behind the write")
	stop() // Run ends, Drain, Close
	got := rec.distinct()
	total := int64(0)
	for p, off := range committed(t, brokers, group, topic) {
		rec.mu.Lock()
		for o := int64(0); o < off; o++ {
			if rec.seen[fmt.Sprintf("%d/%d", p, o)] == 0 {
				t.Errorf("partition %d committed at %d but offset %d was never stored", p, off, o)
			}
		}
		rec.mu.Unlock()
		total += max(off, 0)
	}
	if total != int64(got) {
		t.Fatalf("drained: %d records stored, %d committed; want them equal", got, total)
	}
	if got < 16 {
		t.Fatalf("only %d records stored: the batches held at shutdown were not drained", got)
	}
}
