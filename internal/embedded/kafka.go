package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

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

	// DataDir, when set, keeps the log, the consumer groups' committed
	// offsets and the producer ids on disk there (kfake.DataDir): a broker
	// started again on the same directory serves what the last one had.
	// Every acknowledged batch is written to the file before the produce is
	// answered, so a process that ends (cleanly or not) loses nothing; a
	// machine that crashes may lose what the OS had not flushed, unless
	// SyncWrites. Close syncs the directory's files. Empty: in memory.
	DataDir string

	// SyncWrites fsyncs every produced batch before answering it
	// (kfake.SyncWrites), which also survives a machine crash, at a cost in
	// write throughput. Only with DataDir.
	SyncWrites bool

	// RetentionBytes bounds each partition's log (log.retention.bytes): the
	// oldest segments beyond it are deleted, checked every RetentionCheck.
	// Zero or negative: no bound (kfake's default).
	RetentionBytes int64

	// RetentionCheck is how often retention runs; zero means one minute.
	RetentionCheck time.Duration
}

// Kafka is a running, in-process, single-broker Kafka stand-in. It exists so
// tests and the dev stack can exercise real Kafka clients (librdkafka via
// confluent-kafka-go, franz-go, ...) over the real wire protocol without a
// JVM or a container; it keeps its log in memory and loses it on Close
// unless KafkaConfig.DataDir is set.
type Kafka struct {
	cluster *kfake.Cluster
	brokers string
	dataDir string

	stop      chan struct{} // ends the retention loop
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
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

	opts := []kfake.Opt{
		// One broker, so that Brokers is the whole cluster. kfake's default
		// is three; with one, topics must use replication factor 1 or -1
		// (kfake answers INVALID_REPLICATION_FACTOR otherwise, as Kafka does).
		kfake.NumBrokers(1),
		kfake.ListenFn(listen),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("embedded kafka: data directory: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	if cfg.RetentionBytes > 0 {
		opts = append(opts, kfake.BrokerConfigs(map[string]string{
			"log.retention.bytes": strconv.FormatInt(cfg.RetentionBytes, 10),
			// Retention deletes whole segments only: segments of a quarter
			// of the bound keep the log within 1.25 times it (kfake's
			// default segment, 100 MiB, would never be deleted under a
			// smaller bound).
			"log.segment.bytes": strconv.FormatInt(max(cfg.RetentionBytes/4, 1<<20), 10),
		}))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("embedded kafka: start cluster: %w", err)
	}
	if err := ctx.Err(); err != nil {
		cluster.Close()
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	k := &Kafka{cluster: cluster, brokers: brokers, dataDir: cfg.DataDir, stop: make(chan struct{}), loopDone: make(chan struct{})}
	if cfg.RetentionBytes > 0 {
		every := cfg.RetentionCheck
		if every <= 0 {
			every = time.Minute
		}
		go k.retain(every)
	} else {
		close(k.loopDone)
	}
	return k, nil
}

// retain applies retention every period until Close. kfake runs retention
// on its own only for topics with topic-level retention settings, and the
// topics here are created by clients, with the broker's defaults.
func (k *Kafka) retain(every time.Duration) {
	defer close(k.loopDone)
	t := time.NewTicker(every)
	defer t.Stop()
	k.cluster.ApplyRetention() // a log kept from an earlier run may exceed the bound
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
			k.cluster.ApplyRetention()
		}
	}
}

// Brokers returns the bootstrap address, "host:port", to give to clients as
// bootstrap.servers (librdkafka) or seed brokers (franz-go).
func (k *Kafka) Brokers() string { return k.brokers }

// Cluster returns the underlying kfake cluster so fault-injection tests can
// intercept requests (ControlKey, KeepControl, SleepControl), move partition
// leaders or add brokers. Do not Close it directly; use Kafka.Close.
func (k *Kafka) Cluster() *kfake.Cluster { return k.cluster }

// DataDir is the directory the log is kept in; empty when in memory.
func (k *Kafka) DataDir() string { return k.dataDir }

// Close stops the broker. In memory it drops the data; with a DataDir it
// saves the broker's state and fsyncs every file of the directory, so what
// was acknowledged survives even a machine crash after a clean stop. It is
// safe to call more than once.
func (k *Kafka) Close() {
	_ = k.CloseSync()
}

// CloseSync is Close, returning the error of the final sync.
func (k *Kafka) CloseSync() error {
	k.closeOnce.Do(func() {
		close(k.stop)
		<-k.loopDone
		k.cluster.Close()
		if k.dataDir != "" {
			k.closeErr = syncTree(k.dataDir)
		}
	})
	return k.closeErr
}

// syncTree fsyncs every regular file and directory under dir.
func syncTree(dir string) error {
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if err := f.Sync(); err != nil && !d.IsDir() {
			errs = append(errs, fmt.Errorf("sync %s: %w", path, err))
		}
		return f.Close()
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("embedded kafka: sync %s: %w", dir, err)
	}
	return nil
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
