package embedded

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultKafkaPartitions is the partition count that StartKafka gives to
// topics it creates on its own (auto-created topics, and CreateTopics calls
// that ask for the broker default) when KafkaConfig.Partitions is zero. It is
// deliberately greater than one so that code that silently relies on a single
// partition (global ordering, one consumer getting everything) fails in tests
// the same way it would against a real, multi-partition cluster.
const DefaultKafkaPartitions = 8

// KafkaConfig configures StartKafka. The zero value is usable: it listens on
// a random loopback port and creates topics with DefaultKafkaPartitions.
type KafkaConfig struct {
	// Addr is the TCP listen address, like "127.0.0.1:9092", or
	// "127.0.0.1:0" for a random port. Empty means "127.0.0.1:0".
	Addr string

	// Partitions is the partition count of topics the broker creates by
	// default. Zero means DefaultKafkaPartitions; negative is an error.
	Partitions int
}

// Kafka is a running, in-process, single-broker Kafka stand-in. It exists so
// tests and the dev stack can exercise real Kafka clients (librdkafka via
// confluent-kafka-go, franz-go, ...) over the real wire protocol without a
// JVM or a container; it keeps its log in memory and loses it on Close.
type Kafka struct {
	cluster *kfake.Cluster
	brokers string

	closeOnce sync.Once
}

// StartKafka starts a single-broker kfake cluster listening on cfg.Addr and
// returns once it accepts connections. The broker auto-creates topics on
// produce/metadata requests that ask for it (like a default Kafka broker,
// auto.create.topics.enable=true), with cfg.Partitions partitions rather than
// one, so auto-creation cannot hide partitioning bugs. The cluster lives until
// Close; ctx only bounds the start-up.
func StartKafka(ctx context.Context, cfg KafkaConfig) (*Kafka, error) {
	if cfg.Partitions < 0 {
		return nil, fmt.Errorf("embedded kafka: negative partition count %d", cfg.Partitions)
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = DefaultKafkaPartitions
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: listen on %q: %w", cfg.Addr, err)
	}
	ln = advertiseReachable(ln)
	brokers := ln.Addr().String()

	// kfake always binds 127.0.0.1 itself; ListenFn lets us hand it the
	// listener bound to cfg.Addr instead. Only the first broker gets it:
	// brokers added later through Cluster().AddNode get kfake's default.
	var once sync.Once
	listen := func(network, address string) (net.Listener, error) {
		var l net.Listener
		once.Do(func() { l = ln })
		if l != nil {
			return l, nil
		}
		return net.Listen(network, address)
	}

	cluster, err := kfake.NewCluster(
		// One broker, so that Brokers is the whole cluster. kfake's default
		// is three; with one, topics must use replication factor 1 or -1
		// (kfake answers INVALID_REPLICATION_FACTOR otherwise, as Kafka does).
		kfake.NumBrokers(1),
		kfake.ListenFn(listen),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
	)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("embedded kafka: start cluster: %w", err)
	}
	if err := ctx.Err(); err != nil {
		cluster.Close()
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return &Kafka{cluster: cluster, brokers: brokers}, nil
}

// Brokers returns the bootstrap address, "host:port", to give to clients as
// bootstrap.servers (librdkafka) or seed brokers (franz-go).
func (k *Kafka) Brokers() string { return k.brokers }

// Cluster returns the underlying kfake cluster so fault-injection tests can
// intercept requests (ControlKey, KeepControl, SleepControl), move partition
// leaders or add brokers. Do not Close it directly; use Kafka.Close.
func (k *Kafka) Cluster() *kfake.Cluster { return k.cluster }

// Close stops the broker and drops its data. It is safe to call more than
// once.
func (k *Kafka) Close() {
	k.closeOnce.Do(k.cluster.Close)
}

// advertiseReachable wraps a listener bound to an unspecified address
// ("0.0.0.0:9092", ":9092") so that its Addr reports loopback instead. kfake
// advertises each broker in metadata responses as its listener's Addr, and
// clients cannot reliably dial "0.0.0.0" or "::" once they have bootstrapped.
func advertiseReachable(ln net.Listener) net.Listener {
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return ln
	}
	return &advertisedListener{
		Listener: ln,
		addr:     &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: tcp.Port},
	}
}

// advertisedListener is a net.Listener whose Addr is overridden; see
// advertiseReachable for why.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

// Addr returns the overridden, reachable address.
func (l *advertisedListener) Addr() net.Addr { return l.addr }
