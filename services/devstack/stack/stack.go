// Package stack runs the whole platform in one process: an embedded Kafka
// (kfake), MongoDB (FerretDB on SQLite), Redis (miniredis) and S3 (gofakes3)
// unless real ones are configured, one or more dispatchers, workers that
// join them through the real membership RPC over loopback, and the feeder. The dev stack command, the end-to-end tests and the
// benchmarks all start it through Start.
package stack

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/devpki"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/internal/telemetry"
	dredis "github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	dconfig "github.com/pawnshop/auction/services/dispatcher/config"
	dispatcher "github.com/pawnshop/auction/services/dispatcher/service"
	feederapp "github.com/pawnshop/auction/services/feeder/app"
	feederconfig "github.com/pawnshop/auction/services/feeder/config"
	feeder "github.com/pawnshop/auction/services/feeder/service"
	wconfig "github.com/pawnshop/auction/services/worker/config"
	worker "github.com/pawnshop/auction/services/worker/service"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
)

// Config is the dev stack's configuration.
type Config struct {
	// HTTPAddr is the first dispatcher's listen address; the others listen
	// on the following ports (see DispatcherHTTPAddrs).
	HTTPAddr string
	// Dispatchers is how many dispatchers start (zero: one, at most
	// MaxDispatchers), each with its own listeners and DISPATCHER_ID, all
	// on the same backends.
	Dispatchers int
	// ClusterName is the deployment's name (CLUSTER_NAME) given to every
	// service of the stack: it prefixes their Redis keys and channels,
	// topics and consumer groups, so that two stacks can share a Redis or a
	// Kafka. The zero Name is clustername.Default.
	ClusterName clustername.Name
	// Workers is how many workers start and join.
	Workers int
	// DataDir holds the embedded servers' files, kept across restarts: the
	// database (mongo/), the broker's log and consumer offsets (kafka/),
	// the S3 objects (s3/). Empty: Kafka and S3 in memory.
	DataDir string
	// KafkaSyncWrites fsyncs every produced batch of the embedded broker
	// (see embedded.KafkaConfig.SyncWrites); off by default: a clean stop
	// and a killed process lose nothing without it, only a machine crash
	// can.
	KafkaSyncWrites bool
	// KafkaRetentionBytes bounds each partition of the embedded broker's
	// log; zero means DefaultKafkaRetentionBytes, negative no bound.
	KafkaRetentionBytes int64
	// DrainTimeout bounds Close's wait for the workers to store every
	// acknowledged write (see Close); zero means 30 s (the embedded
	// database's updates by _id, one SQLite transaction each, make a burst
	// of writes take seconds to store).
	DrainTimeout time.Duration
	// KafkaAddr and MongoAddr are the embedded servers' listen addresses.
	KafkaAddr string
	MongoAddr string
	// KafkaBrokers and MongoURI, when set, replace the embedded servers.
	KafkaBrokers []string
	MongoURI     envconfig.Secret
	// RedisURL, when set, replaces the embedded Redis (miniredis).
	RedisURL envconfig.Secret
	// S3Addr is the embedded S3's listen address; S3Endpoint, when set,
	// replaces it with a real S3-compatible server.
	S3Addr     string
	S3Endpoint string
	// S3Bucket and S3Key locate the fraudsters list.
	S3Bucket string
	S3Key    string
	// FeedInterval is the feeder's period.
	FeedInterval time.Duration
	// PublishTimeout bounds the dispatcher's wait for the broker (default
	// the dispatcher's own default).
	PublishTimeout time.Duration
	// ReplayInterval is how often buffered writes are replayed (default 1s).
	ReplayInterval time.Duration
	// Partitions of each event topic.
	Partitions int
	// HeartbeatInterval of the membership protocol.
	HeartbeatInterval time.Duration
	// ClusterAddr is the first dispatcher's cluster listener, where workers
	// join (mutual TLS); empty: a random loopback port. The others' are
	// always random loopback ports.
	ClusterAddr string
	// APIKey is the API key the dispatcher accepts, with every scope (see
	// CheckAPIKey); empty: a fresh random one. Only its hash is stored, in
	// <DataDir>/auth/api-keys.json (a temporary directory when DataDir is
	// empty).
	APIKey envconfig.Secret
}

// Stack is a running platform.
type Stack struct {
	cfg   Config
	log   *slog.Logger
	token string
	// apiKey is the key callers present; keysFile holds its hash
	// (API_KEYS_FILE); authTemp is the directory to remove at Close when
	// DataDir was empty.
	apiKey   string
	keysFile string
	authTemp string

	kafka    *embedded.Kafka
	mongo    *embedded.Mongo
	redis    *embedded.Redis
	s3       *embedded.S3
	s3URL    string
	feeder   *fx.App
	feed     *feederapp.Feeder
	brokers  []string
	mongoURI string
	redisURL string

	// dispatchers are the stack's dispatchers in order (dispatchers.go).
	dispatchers []*Dispatcher
	// server is a running dispatcher's public listener and buffer the
	// stack's write buffer, which Close drains (see useForDrain).
	server *dispatcher.Server
	buffer *dredis.WriteBuffer
	// pki is the development cluster CA (pki.go).
	pki     *devpki.CA
	pkiTemp string
	// metrics is the process's registry, shared by all the stack's services;
	// the dispatcher serves it at /metrics.
	metrics *prometheus.Registry

	mu      sync.Mutex
	workers []*Worker
	nextID  int
	// group is the workers' consumer group, whose lag Close drains.
	group string
}

// Worker is one in-process worker application.
type Worker struct {
	ID    string
	label string // its metrics' worker label
	app   *fx.App
	exit  chan int
}

// Exited returns a channel that receives the worker's exit code if it stops
// by itself (for example when its join is rejected).
func (w *Worker) Exited() <-chan int { return w.exit }

// Start brings the platform up and returns once every dispatcher is ready
// and sees every worker.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Stack, err error) {
	if cfg.Partitions == 0 {
		cfg.Partitions = 8
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.KafkaRetentionBytes == 0 {
		cfg.KafkaRetentionBytes = DefaultKafkaRetentionBytes
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.Dispatchers == 0 {
		cfg.Dispatchers = 1
	}
	if cfg.Dispatchers < 1 || cfg.Dispatchers > MaxDispatchers {
		return nil, fmt.Errorf("dispatchers: %d, want 1 to %d", cfg.Dispatchers, MaxDispatchers)
	}
	s := &Stack{cfg: cfg, log: log, token: randomToken(), metrics: telemetry.NewRegistry()}
	defer func() {
		if err != nil {
			_ = s.Close(context.Background())
		}
	}()
	if err := s.setUpAPIKey(); err != nil {
		return nil, err
	}
	if len(cfg.KafkaBrokers) > 0 {
		s.brokers = cfg.KafkaBrokers
	} else {
		kc := embedded.KafkaConfig{Addr: cfg.KafkaAddr, Partitions: cfg.Partitions, RetentionBytes: cfg.KafkaRetentionBytes}
		if cfg.DataDir != "" {
			kc.DataDir, kc.SyncWrites = filepath.Join(cfg.DataDir, "kafka"), cfg.KafkaSyncWrites
		}
		s.kafka, err = embedded.StartKafka(ctx, kc)
		if err != nil {
			return nil, fmt.Errorf("start embedded kafka: %w", err)
		}
		s.brokers = []string{s.kafka.Brokers()}
	}
	if cfg.MongoURI != "" {
		s.mongoURI = cfg.MongoURI.Reveal()
	} else {
		s.mongo, err = embedded.StartMongo(ctx, embedded.MongoConfig{Addr: cfg.MongoAddr, DataDir: filepath.Join(cfg.DataDir, "mongo"), Logger: log})
		if err != nil {
			return nil, fmt.Errorf("start embedded mongodb: %w", err)
		}
		s.mongoURI = s.mongo.URI()
	}
	if cfg.RedisURL != "" {
		s.redisURL = cfg.RedisURL.Reveal()
	} else {
		s.redis, err = embedded.StartRedis(ctx, "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		s.redisURL = s.redis.URL()
	}
	if cfg.S3Bucket == "" {
		cfg.S3Bucket, s.cfg.S3Bucket = "auction", "auction"
	}
	if cfg.S3Key == "" {
		cfg.S3Key, s.cfg.S3Key = "fraud/fraudsters.txt", "fraud/fraudsters.txt"
	}
	if cfg.S3Endpoint != "" {
		s.s3URL = cfg.S3Endpoint
	} else {
		sc := embedded.S3Config{Addr: cfg.S3Addr, Bucket: cfg.S3Bucket,
			// Seeded only when absent: a list PUT before a restart stays.
			Seed: map[string][]byte{cfg.S3Key: []byte(SampleFraudsters)}}
		if cfg.DataDir != "" {
			sc.DataDir = filepath.Join(cfg.DataDir, "s3")
		}
		s.s3, err = embedded.StartS3(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("start embedded s3: %w", err)
		}
		s.s3URL = s.s3.Endpoint()
	}
	if err := s.setUpPKI(); err != nil {
		return nil, err
	}
	if err := s.startDispatchers(ctx); err != nil {
		return nil, err
	}
	for range cfg.Workers {
		if _, err := s.StartWorker(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.startFeeder(ctx); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DispatcherConfig is the configuration the stack gives its first
// dispatcher (see dispatcherConfig).
func (s *Stack) DispatcherConfig() dconfig.Config {
	c, _ := s.dispatcherConfig()
	return c
}

// dispatcherConfig loads the dispatcher's configuration the way the binary
// does, from the stack's values given as its environment variables (the
// others keep their defaults).
func (s *Stack) dispatcherConfig() (dconfig.Config, error) {
	return s.dispatcherConfigWith(nil)
}

// dispatcherConfigWith is dispatcherConfig with extra's variables set last
// (an extra dispatcher's own address and mode, see StartDispatcher).
func (s *Stack) dispatcherConfigWith(extra map[string]string) (dconfig.Config, error) {
	env, err := s.dispatcherEnv(extra)
	if err != nil {
		return dconfig.Config{}, err
	}
	c, err := service.Load(dconfig.Load, envconfig.FromMap(env))
	if err != nil {
		return c, fmt.Errorf("dispatcher configuration: %w", err)
	}
	return c, nil
}

// dispatcherEnv is a dispatcher's environment: the stack's backends, keys,
// cluster token and certificate, with extra's variables set last.
func (s *Stack) dispatcherEnv(extra map[string]string) (map[string]string, error) {
	env := map[string]string{
		"HTTP_ADDR":             s.cfg.HTTPAddr,
		"KAFKA_BROKERS":         strings.Join(s.brokers, ","),
		"CLUSTER_TOKEN":         s.token,
		"HEARTBEAT_INTERVAL":    s.cfg.HeartbeatInterval.String(),
		"READY_MIN_WORKERS":     strconv.Itoa(s.cfg.Workers),
		"REDIS_URL":             s.redisURL,
		"DISPATCHER_ID":         dispatcherID(0),
		"CLUSTER_NAME":          s.cfg.ClusterName.String(),
		"FRAUD_RELOAD_INTERVAL": (5 * time.Second).String(),
		"TOPIC_PARTITIONS":      strconv.Itoa(s.cfg.Partitions),
		"API_KEYS_FILE":         s.keysFile,
		"CLUSTER_ADDR":          cmp.Or(s.cfg.ClusterAddr, "127.0.0.1:0"),
	}
	if err := s.clusterTLSEnv(env, dispatcherIdentity); err != nil {
		return nil, err
	}
	if s.cfg.PublishTimeout > 0 {
		env["PUBLISH_TIMEOUT"] = s.cfg.PublishTimeout.String()
	}
	if s.cfg.ReplayInterval > 0 {
		env["BUFFER_REPLAY_INTERVAL"] = s.cfg.ReplayInterval.String()
	}
	for k, v := range extra {
		env[k] = v
	}
	return env, nil
}

// RestartDispatcher stops the first dispatcher and starts a new one on the
// same addresses and DISPATCHER_ID; the workers that joined through it join
// again.
func (s *Stack) RestartDispatcher(ctx context.Context) error {
	d := s.Dispatchers()[0]
	if err := s.StopDispatcher(ctx, d); err != nil {
		return err
	}
	httpAddr := strings.TrimPrefix(d.url, "http://")
	// The workers keep joining where they joined.
	clusterAddr := strings.TrimPrefix(strings.TrimPrefix(d.clusterURL, "https://"), "http://")
	nd, err := s.startDispatcherAt(ctx, 0, httpAddr, clusterAddr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.dispatchers[0] = nd
	s.mu.Unlock()
	s.useForDrain()
	return nil
}

// SampleFraudsters is the fraud list the embedded S3 starts with.
const SampleFraudsters = `# Clients refused by the dispatcher (one id per line; # starts a comment).
mallory
eve@example.com
`

// FeederConfig is the configuration the stack gives its feeder (see
// feederConfig).
func (s *Stack) FeederConfig() feederconfig.Config {
	c, _ := s.feederConfig()
	return c
}

// feederConfig loads the feeder's configuration the way the binary does,
// from the stack's values given as its environment variables.
func (s *Stack) feederConfig() (feederconfig.Config, error) {
	env := map[string]string{
		"S3_ENDPOINT":  s.s3URL,
		"S3_BUCKET":    s.cfg.S3Bucket,
		"S3_KEY":       s.cfg.S3Key,
		"REDIS_URL":    s.redisURL,
		"FEED_ONCE":    "false",
		"CLUSTER_NAME": s.cfg.ClusterName.String(),
		// The dispatcher serves the stack's one registry, the feeder's
		// series included.
		"METRICS_ADDR": "off",
	}
	if s.cfg.FeedInterval > 0 {
		env["FEED_INTERVAL"] = s.cfg.FeedInterval.String()
	}
	c, err := service.Load(feederconfig.Load, envconfig.FromMap(env))
	if err != nil {
		return c, fmt.Errorf("feeder configuration: %w", err)
	}
	return c, nil
}

func (s *Stack) startFeeder(ctx context.Context) error {
	cfg, err := s.feederConfig()
	if err != nil {
		return err
	}
	log := s.log.With("service", "feeder")
	s.feeder = service.New(feeder.App(cfg, log), log, s.metrics, s.metrics, fx.Populate(&s.feed))
	if err := s.feeder.Start(ctx); err != nil {
		return fmt.Errorf("start feeder: %w", err)
	}
	return nil
}

// Feed runs one feeder pass now: S3 to Redis, announced to the dispatcher.
func (s *Stack) Feed(ctx context.Context) (feederapp.Result, error) {
	return s.feed.RunOnce(ctx)
}

// S3Endpoint is the S3 endpoint in use.
func (s *Stack) S3Endpoint() string { return s.s3URL }

// WorkerConfig is the configuration the stack gives a new worker (see
// workerConfig).
func (s *Stack) WorkerConfig(id string) wconfig.Config {
	c, _ := s.workerConfig(id)
	return c
}

// workerConfig loads a worker's configuration the way the binary does, from
// the stack's values given as its environment variables.
func (s *Stack) workerConfig(id string) (wconfig.Config, error) {
	env, err := s.workerEnv(id)
	if err != nil {
		return wconfig.Config{}, err
	}
	c, err := service.Load(wconfig.Load, envconfig.FromMap(env))
	if err != nil {
		return c, fmt.Errorf("worker configuration: %w", err)
	}
	return c, nil
}

// workerEnv is a worker's environment: the stack's backends, every running
// dispatcher's cluster listener and a certificate naming id.
func (s *Stack) workerEnv(id string) (map[string]string, error) {
	env := map[string]string{
		"WORKER_ID":        id,
		"HTTP_ADDR":        "127.0.0.1:0",
		"DISPATCHER_URL":   s.joinURLs(),
		"CLUSTER_NAME":     s.cfg.ClusterName.String(),
		"CLUSTER_TOKEN":    s.token,
		"KAFKA_BROKERS":    strings.Join(s.brokers, ","),
		"TOPIC_PARTITIONS": strconv.Itoa(s.cfg.Partitions),
		"MONGO_URI":        s.mongoURI,
	}
	if err := s.clusterTLSEnv(env, workerIdentity(id)); err != nil {
		return nil, err
	}
	return env, nil
}

// WorkerEnv is the environment (KEY=value) of a worker process with id
// joining the stack: tests and the benchmark start worker binaries with it.
// A worker that must die abruptly (no leave, no commit) is such a process,
// killed with SIGKILL: an in-process worker cannot be (fx stops an
// application through its stop hooks or not at all).
func (s *Stack) WorkerEnv(id string) ([]string, error) {
	env, err := s.workerEnv(id)
	if err != nil {
		return nil, err
	}
	return environ(env), nil
}

// environ is env as a process environment, KEY=value sorted by key.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// StartWorker starts one more worker with the stack's configuration.
func (s *Stack) StartWorker(ctx context.Context) (*Worker, error) {
	s.mu.Lock()
	s.nextID++
	id := fmt.Sprintf("worker-%d", s.nextID)
	s.mu.Unlock()
	cfg, err := s.workerConfig(id)
	if err != nil {
		return nil, err
	}
	return s.StartWorkerWith(ctx, cfg)
}

// StartWorkerWith starts a worker with cfg (tests use it to present a wrong
// token or a taken id).
func (s *Stack) StartWorkerWith(ctx context.Context, cfg wconfig.Config) (*Worker, error) {
	log := s.log.With("service", "worker", "worker", cfg.WorkerID)
	label := s.metricsLabel(cfg.WorkerID)
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"worker": label}, s.metrics)
	a := service.New(worker.App(cfg, log), log, reg, s.metrics)
	if err := a.Start(ctx); err != nil {
		return nil, fmt.Errorf("start worker %s: %w", cfg.WorkerID, err)
	}
	w := &Worker{ID: cfg.WorkerID, label: label, app: a, exit: make(chan int, 1)}
	go func() {
		sig := <-a.Wait()
		w.exit <- sig.ExitCode
	}()
	s.mu.Lock()
	s.workers = append(s.workers, w)
	if s.group == "" {
		s.group = cfg.KafkaGroup
	}
	s.mu.Unlock()
	return w, nil
}

// metricsLabel is the worker label of a new worker's series: its id, made
// unique when a running worker of the stack has the same id (a test of the
// dispatcher's duplicate-id rule), since one registry serves them all.
func (s *Stack) metricsLabel(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	label := id
	for n := 2; ; n++ {
		taken := false
		for _, w := range s.workers {
			taken = taken || w.label == label
		}
		if !taken {
			return label
		}
		label = fmt.Sprintf("%s#%d", id, n)
	}
}

// StopWorker stops a worker gracefully (it leaves, drains, commits).
func (s *Stack) StopWorker(ctx context.Context, w *Worker) error {
	s.mu.Lock()
	for i, x := range s.workers {
		if x == w {
			s.workers = append(s.workers[:i], s.workers[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	if err := w.app.Stop(ctx); err != nil {
		return fmt.Errorf("stop worker %s: %w", w.ID, err)
	}
	return nil
}

// Workers returns the running workers.
func (s *Stack) Workers() []*Worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Worker(nil), s.workers...)
}

// URL is the first dispatcher's base URL.
func (s *Stack) URL() string { return s.Dispatchers()[0].url }

// Brokers is the Kafka bootstrap list in use.
func (s *Stack) Brokers() []string { return s.brokers }

// MongoURI is the MongoDB connection string in use.
func (s *Stack) MongoURI() string { return s.mongoURI }

// EmbeddedKafka is the embedded broker, or nil when a real one is used.
func (s *Stack) EmbeddedKafka() *embedded.Kafka { return s.kafka }

// RedisURL is the Redis in use.
func (s *Stack) RedisURL() string { return s.redisURL }

// EmbeddedRedis is the embedded Redis, or nil when a real one is used.
func (s *Stack) EmbeddedRedis() *embedded.Redis { return s.redis }

// ClusterToken is the token workers present.
func (s *Stack) ClusterToken() string { return s.token }

// waitReady polls every dispatcher's /readyz until each answers 200 (each
// sees READY_MIN_WORKERS workers).
func (s *Stack) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for _, u := range s.URLs() {
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+"/readyz", nil)
			res, err := client.Do(req)
			if err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the platform did not become ready (%s): %w", u, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// Close stops the platform without losing an acknowledged write: it stops
// every dispatcher's public listener and drains first (see drain), then
// stops the feeder, the workers, the dispatchers and the embedded servers,
// the broker last (its files synced).
func (s *Stack) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+s.cfg.DrainTimeout)
	defer cancel()
	var errs []error
	if s.server != nil {
		errs = append(errs, s.stopPublicListeners(ctx), s.drain(ctx))
	}
	if s.feeder != nil {
		errs = append(errs, s.feeder.Stop(ctx))
	}
	for _, w := range s.Workers() {
		errs = append(errs, s.StopWorker(ctx, w))
	}
	for _, d := range s.Dispatchers() {
		errs = append(errs, s.StopDispatcher(ctx, d))
	}
	if s.mongo != nil {
		s.mongo.Close()
	}
	if s.redis != nil {
		s.redis.Close()
	}
	if s.s3 != nil {
		s.s3.Close()
	}
	if s.kafka != nil {
		errs = append(errs, s.kafka.CloseSync())
	}
	if s.authTemp != "" {
		errs = append(errs, os.RemoveAll(s.authTemp))
	}
	if s.pkiTemp != "" {
		errs = append(errs, os.RemoveAll(s.pkiTemp))
	}
	return errors.Join(errs...)
}
