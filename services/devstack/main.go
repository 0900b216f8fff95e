// Command devstack runs the whole platform in one process on embedded
// defaults: Kafka (kfake), MongoDB (FerretDB on SQLite), the dispatcher and
// workers joined over loopback. KAFKA_BROKERS and MONGO_URI replace the
// embedded servers with real ones.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/service"
	"github.com/pawnshop/auction/services/devstack/stack"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// load reads the dev stack's variables; flags override them.
func load(l *envconfig.Loader) stack.Config {
	c := stack.Config{
		HTTPAddr:          l.Addr("HTTP_ADDR", "127.0.0.1:8080", "dispatcher listen address (-http-addr)"),
		Workers:           l.Int("WORKERS", 2, 0, 64, "workers to start (-workers)"),
		DataDir:           l.String("DATA_DIR", ".data/devstack", "directory of the embedded database's files (-data-dir)"),
		KafkaAddr:         l.Addr("KAFKA_ADDR", "127.0.0.1:9092", "embedded Kafka listen address (-kafka-addr)"),
		MongoAddr:         l.Addr("MONGO_ADDR", "127.0.0.1:27017", "embedded MongoDB listen address (-mongo-addr)"),
		MongoURI:          envconfig.Secret(l.String("MONGO_URI", "", "a real MongoDB to use instead of the embedded one")),
		Partitions:        l.Int("TOPIC_PARTITIONS", 8, 1, 1024, "partitions of each event topic"),
		HeartbeatInterval: l.Duration("HEARTBEAT_INTERVAL", time.Second, 10*time.Millisecond, time.Minute, "membership heartbeat interval"),
	}
	if v, ok := os.LookupEnv("KAFKA_BROKERS"); ok && v != "" {
		c.KafkaBrokers = l.Addrs("KAFKA_BROKERS", "", "a real Kafka to use instead of the embedded one")
	} else {
		l.String("KAFKA_BROKERS", "", "a real Kafka to use instead of the embedded one")
	}
	return c
}

func run(args []string, stdout, stderr io.Writer) int {
	l := envconfig.New(nil)
	cfg := load(l)
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "dispatcher listen address")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "workers to start")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the embedded database's files")
	fs.StringVar(&cfg.KafkaAddr, "kafka-addr", cfg.KafkaAddr, "embedded Kafka listen address")
	fs.StringVar(&cfg.MongoAddr, "mongo-addr", cfg.MongoAddr, "embedded MongoDB listen address")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "devstack: the whole auction platform in one process\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nEnvironment (flags win):\n")
		l.Usage(stderr)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for _, a := range []struct{ name, v string }{{"-http-addr", cfg.HTTPAddr}, {"-kafka-addr", cfg.KafkaAddr}, {"-mongo-addr", cfg.MongoAddr}} {
		if err := envconfig.CheckAddr(a.v); err != nil {
			l.Fail(a.name, "%v", err)
		}
	}
	if cfg.Workers < 0 || cfg.Workers > 64 {
		l.Fail("-workers", "%d is out of range [0, 64]", cfg.Workers)
	}
	if err := l.Err(); err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return 2
	}
	log := service.NewLogger(os.Getenv("LOG_LEVEL"))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	s, err := stack.Start(startCtx, cfg, log)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return 1
	}
	u := s.URL()
	fmt.Fprintf(stdout, `
The auction platform is ready.
  REST API         %[1]s/item/...  (curl examples in README.md)
  Connect / gRPC   %[1]s  (grpcurl -plaintext %[2]s list)
  OpenAPI          %[1]s/openapi.json
  Health           %[1]s/healthz  %[1]s/readyz
  Kafka            %[3]v
  MongoDB          %[4]s
  Workers          %[5]d
Ctrl-C stops everything.
`, u, cfg.HTTPAddr, s.Brokers(), redacted(s.MongoURI(), cfg.MongoURI != ""), cfg.Workers)
	<-ctx.Done()
	fmt.Fprintln(stdout, "devstack: shutting down")
	if err := s.Close(context.Background()); err != nil {
		fmt.Fprintf(stderr, "devstack: shutdown: %v\n", err)
		return 1
	}
	return 0
}

func redacted(uri string, external bool) string {
	if external {
		return "(MONGO_URI)"
	}
	return uri
}
