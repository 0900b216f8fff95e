// Package config is the dispatcher's typed configuration, loaded from the
// environment and checked as a whole.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/redis/go-redis/v9"
)

// Config is everything the dispatcher can be told.
type Config struct {
	HTTPAddr           string
	KafkaBrokers       []string
	ClusterToken       envconfig.Secret
	MaxBodyBytes       int64
	RequestTimeout     time.Duration
	PublishTimeout     time.Duration
	ReadAttemptTimeout time.Duration
	HeartbeatInterval  time.Duration
	MissedHeartbeats   int
	ReadyMinWorkers    int
	RedisURL           envconfig.Secret
	DispatcherID       string
	FraudReload        time.Duration
	ReplayInterval     time.Duration
	AuditQueueSize     int
	TopicPartitions    int
	TopicReplication   int
}

// Brokers is the bootstrap list in librdkafka's form.
func (c Config) Brokers() string { return strings.Join(c.KafkaBrokers, ",") }

// Load declares and reads every variable; problems are collected in l.
func Load(l *envconfig.Loader) Config {
	c := Config{
		HTTPAddr:           l.Addr("HTTP_ADDR", "127.0.0.1:8080", "listen address of the public API, membership, health and docs"),
		KafkaBrokers:       l.Addrs("KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated host:port"),
		ClusterToken:       l.Secret("CLUSTER_TOKEN", "", "shared secret workers present to join"),
		MaxBodyBytes:       l.Bytes("MAX_BODY_BYTES", 1<<20, 1<<10, 64<<20, "largest accepted request body"),
		RequestTimeout:     l.Duration("REQUEST_TIMEOUT", 10*time.Second, 100*time.Millisecond, 5*time.Minute, "deadline of every API call"),
		PublishTimeout:     l.Duration("PUBLISH_TIMEOUT", 5*time.Second, 10*time.Millisecond, time.Minute, "how long a write waits for the broker's acknowledgement"),
		ReadAttemptTimeout: l.Duration("READ_ATTEMPT_TIMEOUT", 3*time.Second, 10*time.Millisecond, time.Minute, "how long one worker may take on a read before another is tried"),
		HeartbeatInterval:  l.Duration("HEARTBEAT_INTERVAL", 2*time.Second, 10*time.Millisecond, time.Minute, "how often workers must send a heartbeat"),
		MissedHeartbeats:   l.Int("MISSED_HEARTBEATS", 3, 1, 100, "heartbeats a worker may miss before it is evicted"),
		ReadyMinWorkers:    l.Int("READY_MIN_WORKERS", 0, 0, 1000, "workers that must have joined before /readyz answers 200"),
	}
	c.RedisURL = l.Secret("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis holding the fraud list and the write buffer")
	if _, err := redis.ParseURL(c.RedisURL.Reveal()); err != nil && c.RedisURL != "" {
		l.Fail("REDIS_URL", "not a Redis URL (redis://[user:password@]host:port/db): %v", errors.Unwrap(err))
	}
	host, _ := os.Hostname()
	c.DispatcherID = l.String("DISPATCHER_ID", fmt.Sprintf("%s-%d", host, os.Getpid()), "this dispatcher's name in the write buffer's replay lease")
	c.FraudReload = l.Duration("FRAUD_RELOAD_INTERVAL", 30*time.Second, 100*time.Millisecond, time.Hour, "fallback reload period of the fraud list (reloads also follow the feeder's announcements)")
	c.ReplayInterval = l.Duration("BUFFER_REPLAY_INTERVAL", time.Second, 10*time.Millisecond, time.Hour, "how often buffered writes are replayed to Kafka")
	c.AuditQueueSize = l.Int("AUDIT_QUEUE_SIZE", 10000, 1, 10000000, "audit records held for publishing before new ones are dropped")
	c.TopicPartitions = l.Int("TOPIC_PARTITIONS", 8, 1, 1024, "partitions of topics created at start")
	c.TopicReplication = l.Int("TOPIC_REPLICATION", 1, 1, 7, "replication factor of topics created at start")
	if c.ReadAttemptTimeout >= c.RequestTimeout {
		l.Fail("READ_ATTEMPT_TIMEOUT", "%s must be shorter than REQUEST_TIMEOUT (%s) so that a second worker can be tried", c.ReadAttemptTimeout, c.RequestTimeout)
	}
	if c.PublishTimeout >= c.RequestTimeout {
		l.Fail("PUBLISH_TIMEOUT", "%s must be shorter than REQUEST_TIMEOUT (%s)", c.PublishTimeout, c.RequestTimeout)
	}
	return c
}
