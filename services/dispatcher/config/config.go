// Package config is the dispatcher's typed configuration, loaded from the
// environment and checked as a whole.
package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/httpserver"
	"github.com/pawnshop/auction/internal/kafkasec"
	"github.com/pawnshop/auction/internal/redisclient"
)

// Config is everything the dispatcher can be told.
type Config struct {
	// Name is the deployment's name (CLUSTER_NAME): every Redis key and
	// channel and every Kafka topic the dispatcher uses is under it. The
	// zero Name is the default, "auction".
	Name               clustername.Name
	HTTPAddr           string
	KafkaBrokers       []string
	MaxBodyBytes       int64
	RequestTimeout     time.Duration
	PublishTimeout     time.Duration
	ReadAttemptTimeout time.Duration
	HeartbeatInterval  time.Duration
	MissedHeartbeats   int
	ReadyMinWorkers    int
	RedisURL           envconfig.Secret
	RedisCAFile        string
	DispatcherID       string
	FraudReload        time.Duration
	ReplayInterval     time.Duration
	AuditQueueSize     int
	AuditLinger        time.Duration
	TopicPartitions    int
	TopicReplication   int

	// Admission control and edge limits (see ports.EdgeConfig).
	MaxInflightReads       int
	MaxInflightWrites      int
	AdmissionQueueReads    int
	AdmissionQueueWrites   int
	AdmissionQueueWait     time.Duration
	RateLimitPerClient     int
	RateLimitBurst         int
	ClientIPHeader         string
	BodyReadTimeout        time.Duration
	MaxConnections         int
	CORSAllowedOrigins     []string
	WorkerResponseMaxBytes int64

	// TLS is the public listener's certificate (TLS_CERT_FILE, TLS_KEY_FILE).
	TLS httpserver.TLSFiles
	// Kafka is how the Kafka clients authenticate and encrypt (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*).
	Kafka kafkasec.Config

	// Auth is how public callers are authenticated (auth.go).
	Auth AuthConfig

	// Cluster is the workers' side: the cluster listener and its trust
	// (cluster.go).
	Cluster ClusterConfig

	// JSON is how JSON request bodies are read (json.go).
	JSON JSONConfig
}

// Brokers is the bootstrap list in librdkafka's form.
func (c Config) Brokers() string { return strings.Join(c.KafkaBrokers, ",") }

// Load declares and reads every variable; problems are collected in l.
func Load(l *envconfig.Loader) Config {
	c := Config{
		Name:               clustername.Load(l),
		HTTPAddr:           l.Addr("HTTP_ADDR", "127.0.0.1:8080", "listen address of the public API, health and docs (workers join on CLUSTER_ADDR)"),
		KafkaBrokers:       l.Addrs("KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated host:port"),
		MaxBodyBytes:       l.Bytes("MAX_BODY_BYTES", 1<<20, 1<<10, 64<<20, "largest accepted request body"),
		RequestTimeout:     l.Duration("REQUEST_TIMEOUT", 10*time.Second, 100*time.Millisecond, 5*time.Minute, "deadline of every API call"),
		PublishTimeout:     l.Duration("PUBLISH_TIMEOUT", 5*time.Second, 10*time.Millisecond, time.Minute, "how long a write waits for the broker's acknowledgement"),
		ReadAttemptTimeout: l.Duration("READ_ATTEMPT_TIMEOUT", 3*time.Second, 10*time.Millisecond, time.Minute, "how long one worker may take on a read before another is tried"),
		HeartbeatInterval:  l.Duration("HEARTBEAT_INTERVAL", 2*time.Second, 10*time.Millisecond, time.Minute, "how often workers must send a heartbeat"),
		MissedHeartbeats:   l.Int("MISSED_HEARTBEATS", 3, 1, 100, "heartbeats a worker may miss before it is evicted"),
		ReadyMinWorkers:    l.Int("READY_MIN_WORKERS", 0, 0, 1000, "workers that must have joined before /readyz answers 200"),
	}
	c.RedisURL = redisclient.URL(l, "REDIS_URL", "redis://127.0.0.1:6379/0", "Redis holding the fraud list and the write buffer (rediss:// for TLS)")
	c.RedisCAFile = redisclient.CAFile(l, c.RedisURL)
	host, _ := os.Hostname()
	c.DispatcherID = l.String("DISPATCHER_ID", fmt.Sprintf("%s-%d", host, os.Getpid()), "this dispatcher's name in the write buffer's replay lease")
	c.FraudReload = l.Duration("FRAUD_RELOAD_INTERVAL", 30*time.Second, 100*time.Millisecond, time.Hour, "fallback reload period of the fraud list (reloads also follow the feeder's announcements)")
	c.ReplayInterval = l.Duration("BUFFER_REPLAY_INTERVAL", time.Second, 10*time.Millisecond, time.Hour, "how often buffered writes are replayed to Kafka")
	c.AuditQueueSize = l.Int("AUDIT_QUEUE_SIZE", 10000, 1, 10000000, "audit records held for publishing before new ones are dropped")
	c.AuditLinger = l.Duration("AUDIT_LINGER", 100*time.Millisecond, 0, 5*time.Second, "how long audit records wait to be sent in one batch (the events' producer waits 2ms)")
	c.TopicPartitions = l.Int("TOPIC_PARTITIONS", 8, 1, 1024, "partitions of topics created at start")
	c.TopicReplication = l.Int("TOPIC_REPLICATION", 1, 1, 7, "replication factor of topics created at start")
	loadEdge(l, &c)
	c.TLS, c.Kafka = httpserver.LoadTLS(l), kafkasec.Load(l)
	c.Auth = loadAuth(l)
	c.Cluster = loadCluster(l, c.Auth.Mode)
	c.JSON = loadJSON(l)
	if c.ReadAttemptTimeout >= c.RequestTimeout {
		l.Fail("READ_ATTEMPT_TIMEOUT", "%s must be shorter than REQUEST_TIMEOUT (%s) so that a second worker can be tried", c.ReadAttemptTimeout, c.RequestTimeout)
	}
	if c.AdmissionQueueWait >= c.RequestTimeout {
		l.Fail("ADMISSION_QUEUE_WAIT", "%s must be shorter than REQUEST_TIMEOUT (%s)", c.AdmissionQueueWait, c.RequestTimeout)
	}
	if c.PublishTimeout >= c.RequestTimeout {
		l.Fail("PUBLISH_TIMEOUT", "%s must be shorter than REQUEST_TIMEOUT (%s)", c.PublishTimeout, c.RequestTimeout)
	}
	return c
}

// loadEdge reads the protections of the public edge. The defaults come from
// the overload benchmark on the dev stack (2 cores, 2 workers): reads (one
// worker round trip, ~4 ms alone) reach their peak throughput at about 4 in
// flight, and every read admitted beyond that only waits longer, so 8 reads
// run at once and 8 more may wait, which keeps the admitted p99 within 3× of
// the peak's at 100× the load. Writes (a broker acknowledgement, mostly
// waiting) peak at about 2,800/s from 128 in flight, so 128 run and 128 may
// wait. A queued call waits at most 5 ms: the queue absorbs bursts, it does
// not hold a backlog, so a refusal comes at once. Deployments with more or
// faster workers raise MAX_INFLIGHT_READS to 2–3× the concurrency at which
// their reads stop getting faster (the benchmark's saturating concurrency).
func loadEdge(l *envconfig.Loader, c *Config) {
	c.MaxInflightReads = l.Int("MAX_INFLIGHT_READS", 8, 1, 100000, "reads (GetItem, ListItems) served at once; more wait in the admission queue or get 503")
	c.MaxInflightWrites = l.Int("MAX_INFLIGHT_WRITES", 128, 1, 100000, "writes (AddItem, BuyItem, SellItem, PawnItem) served at once; more wait in the admission queue or get 503")
	c.AdmissionQueueReads = l.Int("ADMISSION_QUEUE_READS", 8, 0, 100000, "reads that may wait for a slot when MAX_INFLIGHT_READS are running; beyond it a read gets 503 + Retry-After at once")
	c.AdmissionQueueWrites = l.Int("ADMISSION_QUEUE_WRITES", 128, 0, 100000, "writes that may wait for a slot when MAX_INFLIGHT_WRITES are running; beyond it a write gets 503 + Retry-After at once")
	c.AdmissionQueueWait = l.Duration("ADMISSION_QUEUE_WAIT", 5*time.Millisecond, 0, 5*time.Second, "longest wait in the admission queue before a 503 + Retry-After")
	c.RateLimitPerClient = l.Int("RATE_LIMIT_PER_CLIENT", 0, 0, 1000000, "API calls per second allowed to one client address (token bucket); beyond it 429 + Retry-After; 0 turns the limit off")
	c.RateLimitBurst = l.Int("RATE_LIMIT_BURST", 20, 1, 1000000, "calls a client may make at once above RATE_LIMIT_PER_CLIENT (the token bucket's size)")
	c.ClientIPHeader = l.String("CLIENT_IP_HEADER", "", "header set by a trusted reverse proxy that names the client (its last address is used, e.g. X-Forwarded-For); empty: the connection's address, the only safe choice without such a proxy")
	if h := c.ClientIPHeader; h != "" && !validHeaderName(h) {
		l.Fail("CLIENT_IP_HEADER", "%q is not an HTTP header name", h)
	}
	c.BodyReadTimeout = l.Duration("BODY_READ_TIMEOUT", 10*time.Second, 100*time.Millisecond, 15*time.Second, "how long a client may take to send a request body; a slower body is cut off")
	c.MaxConnections = l.Int("MAX_CONNECTIONS", 4096, 1, 1000000, "connections open at once on the listener; more wait in the kernel's accept queue")
	origins := l.String("CORS_ALLOWED_ORIGINS", "", "comma-separated origins (https://shop.example) whose web pages may call the API from a browser, or *; empty: CORS off")
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if !validOrigin(o) {
			l.Fail("CORS_ALLOWED_ORIGINS", "%q is not an origin (scheme://host[:port], no path) or *", o)
			continue
		}
		c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, strings.TrimSuffix(o, "/"))
	}
	c.WorkerResponseMaxBytes = l.Bytes("WORKER_RESPONSE_MAX_BYTES", 32<<20, 64<<10, 1<<30, "largest worker answer the dispatcher reads (a page of 100 items with long histories stays well under 32MiB)")
}

// validHeaderName reports an RFC 9110 token.
func validHeaderName(h string) bool {
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return h != ""
}

// validOrigin reports "*" or an http(s) origin without path, query or
// credentials.
func validOrigin(o string) bool {
	if o == "*" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.User == nil && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == ""
}
