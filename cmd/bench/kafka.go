package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/topics"
)

// Offsets are per-topic, per-partition offsets (index = partition).
type Offsets map[string][]int64

// kafkaAdmin positions consumer groups and reads watermarks and commits: the
// harness uses it to give each ingest round a fresh group that starts at the
// backlog, and to start later workers at the end of the topics.
type kafkaAdmin struct {
	// name is the stack's deployment: its event topics, and the groups its
	// workers join ("<name>.<KAFKA_GROUP>").
	name    clustername.Name
	brokers string
	admin   *kafka.AdminClient
	probe   *kafka.Consumer
}

func newKafkaAdmin(brokers []string, name clustername.Name) (*kafkaAdmin, error) {
	b := strings.Join(brokers, ",")
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": b, "log_level": 3})
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	probe, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": b, "group.id": "bench-probe", "log_level": 3})
	if err != nil {
		admin.Close()
		return nil, fmt.Errorf("kafka probe consumer: %w", err)
	}
	return &kafkaAdmin{name: name, brokers: b, admin: admin, probe: probe}, nil
}

func (k *kafkaAdmin) Close() {
	k.probe.Close()
	k.admin.Close()
}

// ends returns the high watermark of every partition of the event topics.
func (k *kafkaAdmin) ends() (Offsets, error) {
	out := Offsets{}
	for _, t := range topics.For(k.name).Events() {
		md, err := k.probe.GetMetadata(&t, false, 10_000)
		if err != nil {
			return nil, fmt.Errorf("metadata of %s: %w", t, err)
		}
		parts := md.Topics[t].Partitions
		out[t] = make([]int64, len(parts))
		for _, p := range parts {
			_, high, err := k.probe.QueryWatermarkOffsets(t, p.ID, 10_000)
			if err != nil {
				return nil, fmt.Errorf("watermarks of %s/%d: %w", t, p.ID, err)
			}
			out[t][p.ID] = high
		}
	}
	return out, nil
}

// position commits offs for group (a KAFKA_GROUP, under the stack's name),
// which must have no members: its first consumer starts exactly there.
func (k *kafkaAdmin) position(ctx context.Context, group string, offs Offsets) error {
	group = k.name.Group(group)
	var tps []kafka.TopicPartition
	for t, parts := range offs {
		for p, o := range parts {
			tps = append(tps, kafka.TopicPartition{Topic: &t, Partition: int32(p), Offset: kafka.Offset(o)})
		}
	}
	res, err := k.admin.AlterConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
	if err != nil {
		return fmt.Errorf("position group %s: %w", group, err)
	}
	for _, r := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range r.Partitions {
			if tp.Error != nil {
				return fmt.Errorf("position group %s on %s/%d: %w", group, *tp.Topic, tp.Partition, tp.Error)
			}
		}
	}
	return nil
}

// committedSince returns how many records group (a KAFKA_GROUP, under the
// stack's name) committed past from.
func (k *kafkaAdmin) committedSince(ctx context.Context, group string, from Offsets) (int64, error) {
	group = k.name.Group(group)
	var tps []kafka.TopicPartition
	for t, parts := range from {
		for p := range parts {
			tps = append(tps, kafka.TopicPartition{Topic: &t, Partition: int32(p)})
		}
	}
	res, err := k.admin.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}}, kafka.SetAdminRequireStableOffsets(false))
	if err != nil {
		return 0, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	var n int64
	for _, r := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range r.Partitions {
			if tp.Error != nil || tp.Offset < 0 {
				continue
			}
			n += int64(tp.Offset) - from[*tp.Topic][tp.Partition]
		}
	}
	return n, nil
}

// newProducer returns a producer with the platform's settings (kafkapub:
// idempotent, acks=all) and the dispatcher's linger and delivery timeout.
func newProducer(brokers []string, clientID string) (*kafkapub.Producer, error) {
	return kafkapub.New(kafkapub.Config{Brokers: strings.Join(brokers, ","), DeliveryTimeout: 30 * time.Second,
		Linger: 2 * time.Millisecond, ClientID: clientID}, quietLogger())
}

// produceBacklog publishes msgs, encoded as the dispatcher encodes them, and
// returns once the broker acknowledged every one.
func produceBacklog(ctx context.Context, p *kafkapub.Producer, msgs []kafkapub.Message) error {
	const window = 10_000 // messages in flight
	done := make(chan error, window)
	inflight := 0
	wait := func() error {
		select {
		case err := <-done:
			inflight--
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, m := range msgs {
		for inflight >= window {
			if err := wait(); err != nil {
				return fmt.Errorf("produce backlog: %w", err)
			}
		}
		if err := p.PublishAsync(m, done); err != nil {
			return fmt.Errorf("produce backlog: %w", err)
		}
		inflight++
	}
	for inflight > 0 {
		if err := wait(); err != nil {
			return fmt.Errorf("produce backlog: %w", err)
		}
	}
	return nil
}
