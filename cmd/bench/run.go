package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/protobson"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/devstack/stack"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// cli is the program: flags, run, report. It returns the exit status.
func cli(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	res, err := run(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	printTable(stdout, res)
	fmt.Fprintf(stdout, "\nResults written to %s (%.0fs).\n", o.Out, res.Seconds)
	return 0
}

// bench is one run of the harness: the stack, its clients and the results.
type bench struct {
	o     Options
	hook  *logHook
	log   *slog.Logger
	say   func(format string, args ...any)
	run   string // unique id of this run: names databases and groups
	s     *stack.Stack
	admin *kafkaAdmin
	mongo *mongo.Client // with the protobuf codec, for the baselines
	http  *http.Client
	// workers is the worker RPC baseline's client (cluster mutual TLS).
	workers *http.Client
	data    *Dataset
	// backlogFrom and backlogTo are the offsets around the backlog.
	backlogFrom, backlogTo Offsets
	// writePeak is the REST write path's median rate.
	writePeak float64
	// readDB and readIDs are the read path's database (-items items with
	// history) and its items, kept for the freshness scenario's reads.
	readDB  string
	readIDs []string
	res     *Results
	dbs     []string // databases to drop at the end
}

// run executes every scenario and writes the JSON results.
func run(ctx context.Context, o Options, stderr io.Writer) (*Results, error) {
	started := time.Now()
	b := &bench{o: o, run: runID(), say: func(string, ...any) {}}
	var logOut io.Writer
	if o.Verbose {
		logOut = stderr
		b.say = func(format string, args ...any) {
			fmt.Fprintf(stderr, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		}
	}
	b.hook = newLogHook(logOut)
	b.log = slog.New(b.hook)
	b.res = &Results{StartedAt: started.UTC(), Mode: "full", Machine: machine(), Baselines: map[string]string{},
		Settings: Settings{Rounds: o.Rounds, Concurrency: o.Concurrency, ReadConcurrency: o.ReadConcurrency, RunSeconds: o.Duration.Seconds(), Items: o.Items, IngestItems: min(o.IngestItems, o.Items), Backlog: 4 * min(o.IngestItems, o.Items), BatchSize: 500,
			FreshRate: o.FreshRate, FreshReads: o.FreshReads, UpsertsPerCommand: o.UpsertsPerCommand}}
	if o.Quick {
		b.res.Mode = "quick"
	}
	dataDir, err := os.MkdirTemp("", "auction-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dataDir)
	if err := b.start(ctx, dataDir); err != nil {
		return nil, err
	}
	defer b.close()

	b.memPhase("start")
	if b.data, err = newDataset(b.run, min(o.IngestItems, o.Items), topics.For(o.ClusterName)); err != nil {
		return nil, err
	}
	phases := []struct {
		name string
		f    func(context.Context) error
	}{
		{"ingest", b.scenarioIngest},
		{"read", b.scenarioRead},
		{"write", b.scenarioWrite},
		{"freshness", b.scenarioFreshness},
		{"overload", b.scenarioOverload},
		{"memory", b.scenarioMemory},
	}
	for _, p := range phases {
		if !o.Scenarios[p.name] {
			continue
		}
		b.say("%s: start", p.name)
		t := time.Now()
		if err := p.f(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		b.say("%s: done in %s", p.name, time.Since(t).Round(time.Millisecond))
		if p.name != "memory" {
			b.memPhase(p.name)
		}
	}
	b.memPhase("end")
	if o.HeapProfile != "" {
		if err := writeHeapProfile(o.HeapProfile); err != nil {
			b.res.Notes = append(b.res.Notes, "heap profile not written: "+err.Error())
		}
	}
	b.res.Seconds = time.Since(started).Seconds()
	if err := writeJSON(o.Out, b.res); err != nil {
		return nil, fmt.Errorf("write %s: %w", o.Out, err)
	}
	return b.res, nil
}

// profiled runs f, under the CPU profiler into <-profile>/<name>.pprof when
// -profile is set and this is the first round. The profile covers the whole
// process: with the embedded backends, the brokers and the database too.
func (b *bench) profiled(name string, round int, f func()) {
	stop := b.startProfile(name, round)
	defer stop()
	f()
}

// startProfile starts the CPU profile of profiled (and its execution trace
// with -trace) and returns its stop.
func (b *bench) startProfile(name string, round int) (stop func()) {
	if b.o.Profile == "" || round != 1 {
		return func() {}
	}
	if err := os.MkdirAll(b.o.Profile, 0o755); err != nil {
		return func() {}
	}
	stopCPU := b.record(name+".pprof", pprof.StartCPUProfile, pprof.StopCPUProfile)
	stopTrace := func() {}
	if b.o.Trace {
		stopTrace = b.record(name+".trace", trace.Start, trace.Stop)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			stopTrace()
			stopCPU()
		})
	}
}

// record creates file in the -profile directory, starts a recording into it
// and returns what ends the recording and closes the file. A recording
// that cannot start is skipped: profiles are an aid, never a reason to stop
// the run.
func (b *bench) record(file string, start func(io.Writer) error, end func()) (stop func()) {
	f, err := os.Create(filepath.Join(b.o.Profile, file))
	if err != nil {
		return func() {}
	}
	if err := start(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		end()
		f.Close()
	}
}

// writeHeapProfile writes the live heap, after a GC, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runID() string {
	var x [4]byte
	_, _ = rand.Read(x[:])
	return hex.EncodeToString(x[:])
}

// start brings up the platform without workers (each scenario starts the
// workers it needs) and the harness's own clients.
func (b *bench) start(ctx context.Context, dataDir string) error {
	cfg := stack.Config{ClusterName: b.o.ClusterName, HTTPAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0", DataDir: dataDir, KafkaAddr: "127.0.0.1:0", MongoAddr: "127.0.0.1:0", S3Addr: "127.0.0.1:0"}
	var real []string
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		cfg.KafkaBrokers = strings.Split(v, ",")
		real = append(real, "Kafka")
	}
	if v := os.Getenv("MONGO_URI"); v != "" {
		cfg.MongoURI = envconfig.Secret(v)
		real = append(real, "MongoDB")
	}
	if v := os.Getenv("REDIS_URL"); v != "" {
		cfg.RedisURL = envconfig.Secret(v)
		real = append(real, "Redis")
	}
	b.res.Backends = "embedded (kfake Kafka, FerretDB-on-SQLite MongoDB, miniredis, gofakes3), in this process"
	if len(real) > 0 {
		b.res.Backends = "real " + strings.Join(real, ", ") + " from the environment; the rest embedded"
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s, err := stack.Start(sctx, cfg, b.log)
	if err != nil {
		return fmt.Errorf("start the dev stack: %w", err)
	}
	b.s = s
	if b.admin, err = newKafkaAdmin(s.Brokers(), b.o.ClusterName); err != nil {
		return err
	}
	b.mongo, err = mongo.Connect(options.Client().ApplyURI(s.MongoURI()).SetRegistry(protobson.NewRegistry()).SetAppName("auction-bench"))
	if err != nil {
		return fmt.Errorf("connect to mongodb: %w", err)
	}
	b.http = newHTTPClient(2 * b.o.Concurrency)
	b.http.Transport = withKey(b.http.Transport, s.APIKey())
	if b.workers, err = newWorkerClient(s, newHTTPClient(2*b.o.Concurrency)); err != nil {
		return err
	}
	return nil
}

// close drops the databases the run made and stops everything.
func (b *bench) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b.mongo != nil {
		for _, db := range b.dbs {
			_ = b.mongo.Database(db).Drop(ctx)
		}
		_ = b.mongo.Disconnect(ctx)
	}
	if b.admin != nil {
		b.admin.Close()
	}
	if b.s != nil {
		_ = b.s.Close(ctx)
	}
}

// db names a database of this run and remembers to drop it.
func (b *bench) db(name string) string {
	n := "bench_" + b.run + "_" + name
	b.dbs = append(b.dbs, n)
	return n
}

// newHTTPClient is the load generator's client: keep-alive connections for
// every request in flight.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        4 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// memPhase records the process's peak resident memory after a phase.
func (b *bench) memPhase(after string) {
	b.res.Memory.InProcess = append(b.res.Memory.InProcess, Phase{After: after,
		HWMMiB: procField("/proc/self/status", "VmHWM") / 1024, RSSMiB: procField("/proc/self/status", "VmRSS") / 1024})
}

// produceBacklog publishes the data set as the ingest backlog.
func (b *bench) produceBacklog(ctx context.Context) error {
	var err error
	if b.backlogFrom, err = b.admin.ends(); err != nil {
		return err
	}
	p, err := newProducer(b.s.Brokers(), "bench-backlog")
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	t := time.Now()
	if err := produceBacklog(ctx, p, b.data.Messages); err != nil {
		return err
	}
	b.say("backlog: %d events produced in %s", b.data.Events(), time.Since(t).Round(time.Millisecond))
	b.backlogTo, err = b.admin.ends()
	if err != nil {
		return err
	}
	var n int64
	for t, parts := range b.backlogTo {
		for p, o := range parts {
			n += o - b.backlogFrom[t][p]
		}
	}
	if n != int64(b.data.Events()) {
		return fmt.Errorf("the topics grew by %d records while the backlog has %d events: something else writes to them", n, b.data.Events())
	}
	return nil
}
