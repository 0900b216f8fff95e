// Command devstack runs the whole platform in one process on embedded
// defaults: Kafka (kfake), MongoDB (FerretDB on SQLite), Redis (miniredis),
// S3 (gofakes3, seeded with a sample fraud list), the dispatcher, workers
// joined over loopback, and the feeder. KAFKA_BROKERS, MONGO_URI, REDIS_URL
// and S3_ENDPOINT replace the embedded servers with real ones.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pawnshop/auction/internal/auth"
	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/redisclient"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/internal/telemetry"
	"github.com/pawnshop/auction/services/devstack/stack"
	wconfig "github.com/pawnshop/auction/services/worker/config"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// load reads the dev stack's variables; flags set them (see flags).
func load(l *envconfig.Loader) stack.Config {
	c := stack.Config{
		HTTPAddr:          l.Addr("HTTP_ADDR", "127.0.0.1:8080", "the first dispatcher's listen address; the others listen on the following ports (-http-addr)"),
		Dispatchers:       l.Int("DISPATCHERS", 1, 1, stack.MaxDispatchers, "dispatchers to start, each with its own listeners, all seeing every worker (-dispatchers)"),
		ClusterName:       clustername.Load(l),
		Workers:           l.Int("WORKERS", 2, 0, 64, "workers to start (-workers)"),
		DataDir:           l.String("DATA_DIR", ".data/devstack", "directory of the embedded database's files (-data-dir)"),
		KafkaAddr:         l.Addr("KAFKA_ADDR", "127.0.0.1:9092", "embedded Kafka listen address (-kafka-addr)"),
		KafkaBrokers:      l.OptionalAddrs("KAFKA_BROKERS", "a real Kafka to use instead of the embedded one"),
		MongoAddr:         l.Addr("MONGO_ADDR", "127.0.0.1:27017", "embedded MongoDB listen address (-mongo-addr)"),
		MongoURI:          envconfig.Secret(l.String("MONGO_URI", "", "a real MongoDB to use instead of the embedded one")),
		RedisURL:          envconfig.Secret(l.String("REDIS_URL", "", "a real Redis to use instead of the embedded one")),
		S3Addr:            l.Addr("S3_ADDR", "127.0.0.1:9000", "embedded S3 listen address (-s3-addr)"),
		S3Endpoint:        s3Endpoint(l),
		ClusterAddr:       l.Addr("CLUSTER_ADDR", "127.0.0.1:0", "the first dispatcher's cluster listener, where workers join over mutual TLS (-cluster-addr; port 0: a free one; the others always take free ones)"),
		S3Bucket:          l.String("S3_BUCKET", "auction", "bucket of the fraudsters list"),
		S3Key:             l.String("S3_KEY", "fraud/fraudsters.txt", "key of the fraudsters list"),
		FeedInterval:      l.Duration("FEED_INTERVAL", 5*time.Second, 100*time.Millisecond, time.Hour, "feeder period (-feed-interval)"),
		Partitions:        l.Int("TOPIC_PARTITIONS", 8, 1, 1024, "partitions of each event topic"),
		HeartbeatInterval: l.Duration("HEARTBEAT_INTERVAL", time.Second, 10*time.Millisecond, time.Minute, "membership heartbeat interval"),
		APIKey: envconfig.Secret(l.String("API_KEY", "", "the API key callers send as 'Authorization: Bearer <key>', every scope (-api-key; "+
			"\""+auth.APIKeyPrefix+"\" and at least 16 more characters); default: a fresh random key each start, printed in the banner")),
	}
	if c.APIKey != "" {
		if err := stack.CheckAPIKey(c.APIKey.Reveal()); err != nil {
			l.Fail("API_KEY", "%v", err)
		}
	}
	// A real server's address is checked as the services check it, so that
	// a malformed one is listed with the other problems instead of failing
	// the start.
	if c.MongoURI != "" {
		wconfig.CheckMongoURI(l, "MONGO_URI", c.MongoURI)
	}
	if c.RedisURL != "" {
		checkAs(l, "REDIS_URL", c.RedisURL.Reveal(), func(sub *envconfig.Loader) {
			redisclient.URL(sub, "REDIS_URL", "", "")
		})
	}
	return c
}

// s3Endpoint reads S3_ENDPOINT, an http(s) URL, as the feeder does.
func s3Endpoint(l *envconfig.Loader) string {
	u := l.URL("S3_ENDPOINT", "", []string{"http", "https"}, "a real S3-compatible server to use instead of the embedded one")
	if u == nil {
		return ""
	}
	return strings.TrimSuffix(u.String(), "/")
}

// checkAs runs check, a service's loader of the variable name, on value
// alone and records its problems in l: the dev stack reads the variable as
// optional, the service as required.
func checkAs(l *envconfig.Loader, name, value string, check func(*envconfig.Loader)) {
	sub := envconfig.New(envconfig.FromMap(map[string]string{name: value}))
	check(sub)
	var p *envconfig.Problems
	if errors.As(sub.Err(), &p) {
		for _, e := range p.Unwrap() {
			var one *envconfig.Error
			if errors.As(e, &one) {
				l.Fail(one.Var, "%s", one.Problem)
			}
		}
	}
}

// flags set the variables of the same meaning: their values get the same
// checks, and win over the environment.
var flags = []service.Flag{
	{Name: "http-addr", Var: "HTTP_ADDR", Usage: "the first dispatcher's listen address (the others: the following ports)"},
	{Name: "dispatchers", Var: "DISPATCHERS", Usage: "dispatchers to start"},
	{Name: "cluster-name", Var: "CLUSTER_NAME", Usage: "deployment name prefixing every Redis key, topic and consumer group"},
	{Name: "workers", Var: "WORKERS", Usage: "workers to start"},
	{Name: "data-dir", Var: "DATA_DIR", Usage: "directory of the embedded database's files"},
	{Name: "kafka-addr", Var: "KAFKA_ADDR", Usage: "embedded Kafka listen address"},
	{Name: "mongo-addr", Var: "MONGO_ADDR", Usage: "embedded MongoDB listen address"},
	{Name: "s3-addr", Var: "S3_ADDR", Usage: "embedded S3 listen address"},
	{Name: "cluster-addr", Var: "CLUSTER_ADDR", Usage: "the first dispatcher's cluster listener (workers join there)"},
	{Name: "feed-interval", Var: "FEED_INTERVAL", Usage: "feeder period"},
	{Name: "api-key", Var: "API_KEY", Usage: "the API key callers present (default: random, printed)"},
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, level, code, ok := service.Configure("devstack", "the whole auction platform in one process", args, stderr, nil, load, flags...)
	if !ok {
		return code
	}
	// Before anything slow: every port free, the data directory ours.
	if taken := checkPorts(listenAddrs(cfg)); len(taken) > 0 {
		for _, p := range taken {
			fmt.Fprintf(stderr, "devstack: %s\n", p)
		}
		return 2
	}
	if cfg.DataDir != "" {
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			fmt.Fprintf(stderr, "devstack: %v\n", err)
			return 2
		}
		defer unlock()
	}
	log := service.NewLogger(level)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdownTracing, err := telemetry.Setup(ctx, "devstack")
	if err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return 1
	}
	defer func() { _ = shutdownTracing(context.Background()) }()
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	s, err := stack.Start(startCtx, cfg, log)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, banner(s, cfg))
	<-ctx.Done()
	// A second Ctrl-C kills the process at once, as usual.
	stop()
	fmt.Fprintln(stdout, "devstack: shutting down")
	if err := s.Close(context.Background()); err != nil {
		fmt.Fprintf(stderr, "devstack: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// banner is what the dev stack prints once it is ready: where everything
// is and the key to call it with.
func banner(s *stack.Stack, cfg stack.Config) string {
	urls := s.URLs()
	u := urls[0]
	var b strings.Builder
	fmt.Fprintf(&b, `
The auction platform is ready. Every API call needs the key (every scope):

  export AUCTION_TOKEN=%[3]s

  REST API         %[1]s/item/...  (curl -H "Authorization: Bearer $AUCTION_TOKEN" ..., examples in README.md)
  Connect / gRPC   %[1]s  (grpcurl -plaintext -H "authorization: Bearer $AUCTION_TOKEN" %[2]s list)
  Swagger UI       %[1]s/docs/
  OpenAPI          %[1]s/openapi.json
  Health           %[1]s/healthz  %[1]s/readyz  %[1]s/metrics
`, u, strings.TrimPrefix(u, "http://"), s.APIKey())
	if len(urls) > 1 {
		fmt.Fprintf(&b, "  Dispatchers      %d, the same API on each (each /readyz lists every worker):\n", len(urls))
		for i, d := range urls {
			fmt.Fprintf(&b, "                   %d  %s\n", i+1, d)
		}
	}
	fmt.Fprintf(&b, `  Kafka            %[1]v
  MongoDB          %[2]s
  Redis            %[3]s
  S3               %[4]s  (fraud list: %[4]s/%[5]s/%[6]s, fed every %[7]s)
  Cluster name     %[8]s  (prefixes Redis keys, topics, consumer groups)
  Workers          %[9]d
Ctrl-C stops everything.
`, s.Brokers(), redacted(s.MongoURI(), cfg.MongoURI != ""), redacted(s.RedisURL(), cfg.RedisURL != ""),
		s.S3Endpoint(), cfg.S3Bucket, cfg.S3Key, cfg.FeedInterval, cfg.ClusterName, cfg.Workers)
	return b.String()
}

// redacted hides a configured URL, which may carry credentials.
func redacted(uri string, external bool) string {
	if external {
		return "(as configured)"
	}
	return uri
}
