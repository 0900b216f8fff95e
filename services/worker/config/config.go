// Package config is the worker's typed configuration, loaded from the
// environment and checked as a whole.
package config

import (
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/kafkasec"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// Config is everything a worker can be told.
type Config struct {
	// Name is the deployment's name (CLUSTER_NAME): the topics the worker
	// consumes and its consumer group are under it, and it is the default
	// MongoDB database. The zero Name is the default, "auction".
	Name     clustername.Name
	WorkerID string
	HTTPAddr string
	// AdvertiseURL is the URL sent in Join; empty means https:// (http://
	// without cluster TLS) plus the address the server actually bound
	// (HTTP_ADDR may use port 0).
	AdvertiseURL string
	// DispatcherURLs are the dispatchers' cluster listeners, tried in turn
	// (DISPATCHER_URL).
	DispatcherURLs []string
	// ClusterToken, AuthMode and ClusterTLS are the worker's side of the
	// cluster's trust (cluster.go).
	ClusterToken envconfig.Secret
	AuthMode     string
	ClusterTLS   clustertls.Files
	KafkaBrokers []string
	// KafkaGroup is the base name of the consumer group (KAFKA_GROUP); the
	// group joined is Group(), under Name. Empty means "workers".
	KafkaGroup       string
	TopicPartitions  int
	TopicReplication int
	MongoURI         envconfig.Secret
	// MongoDatabase is the MongoDB database (MONGO_DATABASE); empty means
	// the deployment's name (Database()).
	MongoDatabase string
	BatchSize     int
	BatchWait     time.Duration
	// MaxBodyBytes caps a WorkerService request body, and its size once
	// decompressed.
	MaxBodyBytes int64
	// Kafka is how the Kafka clients authenticate and encrypt (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*).
	Kafka kafkasec.Config
}

// DefaultKafkaGroup is the base name of the workers' consumer group.
const DefaultKafkaGroup = "workers"

// Group is the consumer group the worker joins: KafkaGroup ("workers" when
// empty) under the deployment's name, "auction.workers" by default, so that
// deployments sharing a Kafka never split each other's partitions.
func (c Config) Group() string {
	base := c.KafkaGroup
	if base == "" {
		base = DefaultKafkaGroup
	}
	return c.Name.Group(base)
}

// Database is the MongoDB database: MongoDatabase, or the deployment's name
// when it is empty.
func (c Config) Database() string {
	if c.MongoDatabase != "" {
		return c.MongoDatabase
	}
	return c.Name.String()
}

// Brokers is the bootstrap list in librdkafka's form.
func (c Config) Brokers() string { return strings.Join(c.KafkaBrokers, ",") }

// Load declares and reads every variable; problems are collected in l.
func Load(l *envconfig.Loader) Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "worker"
	}
	c := Config{
		Name:             clustername.Load(l),
		WorkerID:         l.String("WORKER_ID", host, "this worker's id in the quorum, stable across restarts"),
		HTTPAddr:         l.Addr("HTTP_ADDR", "127.0.0.1:9101", "listen address of the WorkerService"),
		KafkaBrokers:     l.Addrs("KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated host:port"),
		KafkaGroup:       l.String("KAFKA_GROUP", DefaultKafkaGroup, "consumer group shared by all workers, under CLUSTER_NAME: the group joined is <CLUSTER_NAME>.<KAFKA_GROUP>"),
		TopicPartitions:  l.Int("TOPIC_PARTITIONS", 8, 1, 1024, "partitions of each event topic created at start"),
		TopicReplication: l.Int("TOPIC_REPLICATION", 1, 1, 7, "replication factor of topics created at start"),
		MongoURI:         mongoURI(l, "MONGO_URI", "mongodb://127.0.0.1:27017", "MongoDB connection string (may hold credentials)"),
		MongoDatabase:    l.Derived("MONGO_DATABASE", "CLUSTER_NAME", "MongoDB database"),
		BatchSize:        l.Int("BATCH_SIZE", 500, 1, 100000, "most records stored in one bulk write"),
		BatchWait:        l.Duration("BATCH_WAIT", 10*time.Millisecond, 0, 10*time.Second, "longest a record waits for its batch to fill"),
		MaxBodyBytes:     l.Bytes("MAX_BODY_BYTES", 1<<20, 1<<10, 64<<20, "largest accepted WorkerService request body, compressed or inflated"),
		Kafka:            kafkasec.Load(l),
	}
	if c.MongoDatabase == "" {
		c.MongoDatabase = c.Name.String()
	}
	loadCluster(l, &c)
	return c
}

// mongoURI reads a MongoDB connection string and checks it with the
// driver's own parser, so that a malformed one is listed with the other
// configuration problems (exit 2) instead of failing the start. The
// problem is reported without the password. A mongodb+srv:// string is
// checked without its DNS lookup (no I/O while loading): the parser sees it
// as mongodb:// with the SRV-only options set aside, and its single host
// must have no port.
func mongoURI(l *envconfig.Loader, name, def, help string) envconfig.Secret {
	s := l.Secret(name, def, help)
	if s == "" {
		return s // already reported as required
	}
	CheckMongoURI(l, name, s)
	return s
}

// CheckMongoURI records in l, under name, what is wrong with the MongoDB
// connection string uri (nothing when it is fine), without its password:
// the worker's MONGO_URI and the dev stack's optional one are checked alike.
func CheckMongoURI(l *envconfig.Loader, name string, uri envconfig.Secret) {
	if err := checkMongoURI(uri.Reveal()); err != "" {
		l.Fail(name, "not a MongoDB connection string (mongodb://[user:password@]host[:port][,host...][/db][?options]): %s", redactPassword(err, uri.Reveal()))
	}
}

const srvScheme = connstring.SchemeMongoDBSRV + "://"

// checkMongoURI returns what is wrong with uri, or "".
func checkMongoURI(uri string) string {
	srv := strings.HasPrefix(uri, srvScheme)
	if srv {
		uri = connstring.SchemeMongoDB + "://" + withoutSRVOptions(strings.TrimPrefix(uri, srvScheme))
	}
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		msg := err.Error()
		for _, prefix := range []string{"error parsing uri: ", "error validating uri: "} {
			msg = strings.TrimPrefix(msg, prefix)
		}
		return msg
	}
	if srv && (len(cs.Hosts) != 1 || strings.Contains(cs.Hosts[0], ":")) {
		return "a mongodb+srv:// string names exactly one host, without a port"
	}
	if cs.SSLInsecure {
		return "tlsInsecure=true turns off the verification of the server's certificate; give its CA with tlsCAFile instead"
	}
	return ""
}

// withoutSRVOptions drops srvMaxHosts and srvServiceName, which the parser
// accepts only with the mongodb+srv scheme, from the query of rest (the
// connection string after its scheme).
func withoutSRVOptions(rest string) string {
	base, query, ok := strings.Cut(rest, "?")
	if !ok {
		return rest
	}
	var kept []string
	for _, kv := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.EqualFold(k, "srvMaxHosts") && !strings.EqualFold(k, "srvServiceName") {
			kept = append(kept, kv)
		}
	}
	if len(kept) == 0 {
		return base
	}
	return base + "?" + strings.Join(kept, "&")
}

// redactPassword hides the password of uri wherever msg quotes it, escaped
// or not.
func redactPassword(msg, uri string) string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return msg
	}
	userinfo, _, ok := strings.Cut(rest, "@")
	if !ok {
		return msg
	}
	_, pw, ok := strings.Cut(userinfo, ":")
	if !ok || pw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, pw, "***")
	if un, err := url.PathUnescape(pw); err == nil && un != "" {
		msg = strings.ReplaceAll(msg, un, "***")
	}
	return msg
}
