// Package kafkaadmin creates the platform's topics with an explicit partition
// count, so that no topic is ever left to broker auto-creation (one partition
// on a default Kafka, which would serialize all ingest on one worker).
package kafkaadmin

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/kafkasec"
)

// TopicSpec is the layout new topics get.
type TopicSpec struct {
	Partitions  int
	Replication int
}

// EnsureTopics creates each missing topic with spec; existing topics are left
// as they are. sec is how the admin client authenticates and encrypts.
func EnsureTopics(ctx context.Context, brokers string, sec kafkasec.Config, spec TopicSpec, names ...string) error {
	m := kafka.ConfigMap{"bootstrap.servers": brokers, "log_level": 3}
	sec.Apply(m)
	admin, err := kafka.NewAdminClient(&m)
	if err != nil {
		return fmt.Errorf("create kafka admin client: %w", err)
	}
	defer admin.Close()
	specs := make([]kafka.TopicSpecification, 0, len(names))
	for _, n := range names {
		specs = append(specs, kafka.TopicSpecification{Topic: n, NumPartitions: spec.Partitions, ReplicationFactor: spec.Replication})
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	results, err := admin.CreateTopics(ctx, specs)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range results {
		if code := r.Error.Code(); code != kafka.ErrNoError && code != kafka.ErrTopicAlreadyExists {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Error)
		}
	}
	return nil
}
