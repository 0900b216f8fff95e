package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
)

// Options are the harness's settings. Every load is bounded in time (Duration
// per measured run, Timeout for the whole program) and in count (MaxRequests
// per run, Items for the data set).
type Options struct {
	Quick       bool
	Rounds      int
	Concurrency int
	Duration    time.Duration
	Out         string
	// Items is the read path's data set: items with a buy, a sell and a
	// pawn each, loaded as the worker's model stores them.
	Items int
	// IngestItems is the ingest backlog's size in items (4 events each);
	// at most Items.
	IngestItems int
	// FreshRate is the freshness scenario's write rate (writes/s, open
	// loop) and FreshReads its concurrent read load (reads/s of existing
	// items).
	FreshRate  float64
	FreshReads float64
	// ReadConcurrency is the read rounds' requests in flight: by default
	// the dispatcher's MAX_INFLIGHT_READS, so that the load is what its
	// admission control admits rather than a stream of refusals.
	ReadConcurrency int
	// ReadSlices splits each side's run of a read round into this many
	// slices, the sides taking turns slice by slice: the machine's speed
	// drifts within minutes on shared cores, and sides run one after
	// another for -duration each would each see another speed.
	ReadSlices int
	// UpsertsPerCommand caps the upserts of one BulkWrite of the direct
	// model write baseline (0: the whole batch in one); see writeBatch.
	UpsertsPerCommand int
	// HeapProfile, when set, is a file that receives a heap profile of
	// this process at the end of the run (after a GC).
	HeapProfile string
	// MaxRequests bounds every closed-loop run.
	MaxRequests int
	// Processes runs a dispatcher and a worker as separate processes at the
	// end to measure their own peak resident memory.
	Processes bool
	Timeout   time.Duration
	Verbose   bool
	// Profile, when set, is a directory that receives a CPU profile of
	// this process for each side of each scenario's first round.
	Profile string
	// Trace adds an execution trace (go tool trace) to each CPU profile:
	// where a request waits, which a CPU profile does not show.
	Trace bool
	// Scenarios selects what runs (all by default).
	Scenarios map[string]bool
	// OverloadStep is the length of one step of the overload scenario's
	// saturation search, and of its rounds at the saturating concurrency.
	OverloadStep time.Duration
	// OverloadRun is the length of one run at 100× the saturating
	// concurrency.
	OverloadRun time.Duration
	// OverloadClients caps the clients of that run.
	OverloadClients int
	// ClusterName is the CLUSTER_NAME of the stack the bench starts: its
	// topics, consumer groups and Redis keys are under it, so that a bench
	// on a real Kafka or Redis never meets a deployment of another name.
	ClusterName clustername.Name
}

// allScenarios are the scenario names of -scenarios, in the order they run.
var allScenarios = []string{"ingest", "read", "write", "freshness", "overload", "memory"}

// Defaults of the full run and of -quick.
func defaults(quick bool) Options {
	if quick {
		return Options{Quick: true, Rounds: 3, Concurrency: 8, Duration: 400 * time.Millisecond, Out: "bench-results.json",
			Items: 250, IngestItems: 250, FreshRate: 200, FreshReads: 50, MaxRequests: 20_000, Processes: false, Timeout: 4 * time.Minute, ReadSlices: 1,
			OverloadStep: 500 * time.Millisecond, OverloadRun: 2 * time.Second, OverloadClients: 200}
	}
	return Options{Rounds: 3, Concurrency: 32, Duration: 8 * time.Second, Out: "bench-results.json",
		Items: 100_000, IngestItems: 5_000, FreshRate: 1000, FreshReads: 100, MaxRequests: 500_000, Processes: true, Timeout: 40 * time.Minute, ReadSlices: 4,
		OverloadStep: 3 * time.Second, OverloadRun: 10 * time.Second, OverloadClients: 2000}
}

// parseOptions reads the flags; with -quick, the flags not given take the
// quick defaults.
func parseOptions(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := defaults(false)
	var o Options
	fs.BoolVar(&o.Quick, "quick", false, "small counts and short runs (under a minute; what CI runs)")
	fs.IntVar(&o.Rounds, "rounds", d.Rounds, "rounds per scenario, baseline and platform alternating (at least 3)")
	fs.IntVar(&o.Concurrency, "concurrency", d.Concurrency, "requests in flight in the write and read scenarios (quick: 8)")
	fs.DurationVar(&o.Duration, "duration", d.Duration, "length of one measured run (quick: 400ms)")
	fs.StringVar(&o.Out, "out", d.Out, "JSON results file")
	fs.IntVar(&o.Items, "items", d.Items, "items of the read path's database, each with a buy, a sell and a pawn (quick: 250)")
	fs.IntVar(&o.IngestItems, "ingest-items", d.IngestItems, "items of the ingest backlog (4 events each; at most -items) (quick: 250)")
	fs.Float64Var(&o.FreshRate, "fresh-rate", d.FreshRate, "freshness: writes per second, open loop (quick: 200)")
	fs.Float64Var(&o.FreshReads, "fresh-reads", d.FreshReads, "freshness: reads per second of existing items while the writes run (quick: 50)")
	fs.IntVar(&o.ReadConcurrency, "read-concurrency", 8, "requests in flight in the read rounds (default: the dispatcher's MAX_INFLIGHT_READS default, 8)")
	fs.IntVar(&o.ReadSlices, "read-slices", d.ReadSlices, "read rounds: each side runs -duration in all, in this many slices taken in turn with the other sides, so that the machine's drift falls on every side alike (quick: 1)")
	fs.IntVar(&o.UpsertsPerCommand, "upserts-per-command", 40, "direct model write baseline: most upserts per BulkWrite (0: the whole batch of BATCH_SIZE); FerretDB v1 hangs at about 100 matching updates in flight")
	fs.StringVar(&o.HeapProfile, "heap-profile", "", "write a heap profile of this process to this file at the end (go tool pprof -sample_index=inuse_space)")
	fs.IntVar(&o.MaxRequests, "max-requests", d.MaxRequests, "most requests of one measured run (quick: 20000)")
	fs.BoolVar(&o.Processes, "processes", d.Processes, "measure memory of a dispatcher and a worker run as separate processes (quick: false)")
	fs.DurationVar(&o.Timeout, "timeout", d.Timeout, "the whole program stops after this (quick: 4m)")
	fs.BoolVar(&o.Verbose, "v", false, "log the platform's warnings and the harness's progress to stderr")
	fs.StringVar(&o.Profile, "profile", "", "write CPU profiles of each side's first round (of a read round: its first slice) into this directory (go tool pprof)")
	fs.BoolVar(&o.Trace, "trace", false, "with -profile: also write an execution trace of each profiled round (<name>.trace, go tool trace): where requests wait")
	fs.DurationVar(&o.OverloadStep, "overload-step", d.OverloadStep, "overload: length of one step of the saturation search and of one run at the saturating concurrency (quick: 500ms)")
	fs.DurationVar(&o.OverloadRun, "overload-duration", d.OverloadRun, "overload: length of one run at 100× the saturating concurrency (quick: 2s)")
	fs.IntVar(&o.OverloadClients, "overload-clients", d.OverloadClients, "overload: most concurrent clients of the run at 100× the saturating concurrency (quick: 200)")
	clusterName := fs.String("cluster-name", clustername.Default, "CLUSTER_NAME of the stack the bench starts (its topics, groups and Redis keys are under it)")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run (without write, freshness's main row runs at 200 writes/s)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `bench: benchmarks of the auction platform against baselines, over loopback.

Starts the dev stack in-process (embedded Kafka, MongoDB, Redis, S3; set
KAFKA_BROKERS, MONGO_URI, REDIS_URL to use real ones), runs each scenario's
baseline and the platform in alternation, prints a Markdown table and writes
the JSON results. See BENCHMARKS.md.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		o.quickDefaults(set)
	}
	var errs []error
	if n, err := clustername.Parse(*clusterName); err != nil {
		errs = append(errs, fmt.Errorf("-cluster-name: %w", err))
	} else {
		o.ClusterName = n
	}
	o.Scenarios = map[string]bool{}
	for _, name := range strings.Split(*scenarios, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(allScenarios, name) {
			errs = append(errs, fmt.Errorf("-scenarios: unknown %q (known: %s)", name, strings.Join(allScenarios, ", ")))
		}
		o.Scenarios[name] = true
	}
	return o, errors.Join(append(errs, o.check()...)...)
}

// quickDefaults gives the flags not set the quick defaults.
func (o *Options) quickDefaults(set map[string]bool) {
	q := defaults(true)
	apply := func(name string, f func()) {
		if !set[name] {
			f()
		}
	}
	apply("concurrency", func() { o.Concurrency = q.Concurrency })
	apply("duration", func() { o.Duration = q.Duration })
	apply("items", func() { o.Items = q.Items })
	apply("ingest-items", func() { o.IngestItems = q.IngestItems })
	apply("fresh-rate", func() { o.FreshRate = q.FreshRate })
	apply("fresh-reads", func() { o.FreshReads = q.FreshReads })
	apply("max-requests", func() { o.MaxRequests = q.MaxRequests })
	apply("processes", func() { o.Processes = q.Processes })
	apply("timeout", func() { o.Timeout = q.Timeout })
	apply("overload-step", func() { o.OverloadStep = q.OverloadStep })
	apply("overload-duration", func() { o.OverloadRun = q.OverloadRun })
	apply("overload-clients", func() { o.OverloadClients = q.OverloadClients })
}

// check returns a problem for each setting out of its bounds.
func (o *Options) check() []error {
	var errs []error
	if o.Rounds < 3 {
		errs = append(errs, fmt.Errorf("-rounds %d: at least 3", o.Rounds))
	}
	if o.Concurrency < 1 || o.Concurrency > 1024 {
		errs = append(errs, fmt.Errorf("-concurrency %d: 1 to 1024", o.Concurrency))
	}
	if o.Duration < 50*time.Millisecond || o.Duration > 10*time.Minute {
		errs = append(errs, fmt.Errorf("-duration %s: 50ms to 10m", o.Duration))
	}
	if o.Items < 10 || o.Items > 1_000_000 {
		errs = append(errs, fmt.Errorf("-items %d: 10 to 1000000", o.Items))
	}
	if o.IngestItems < 10 || o.IngestItems > 1_000_000 {
		errs = append(errs, fmt.Errorf("-ingest-items %d: 10 to 1000000", o.IngestItems))
	}
	if o.FreshRate < 1 || o.FreshRate > 100_000 || o.FreshReads < 0 || o.FreshReads > 10_000 {
		errs = append(errs, fmt.Errorf("-fresh-rate %.0f, -fresh-reads %.0f: 1 to 100000 writes/s, 0 to 10000 reads/s", o.FreshRate, o.FreshReads))
	}
	if o.ReadConcurrency < 1 || o.ReadConcurrency > 1024 {
		errs = append(errs, fmt.Errorf("-read-concurrency %d: 1 to 1024", o.ReadConcurrency))
	}
	if o.MaxRequests < 1 {
		errs = append(errs, fmt.Errorf("-max-requests %d: at least 1", o.MaxRequests))
	}
	if o.OverloadStep < 100*time.Millisecond || o.OverloadStep > time.Minute {
		errs = append(errs, fmt.Errorf("-overload-step %s: 100ms to 1m", o.OverloadStep))
	}
	if o.OverloadRun < 500*time.Millisecond || o.OverloadRun > 5*time.Minute {
		errs = append(errs, fmt.Errorf("-overload-duration %s: 500ms to 5m", o.OverloadRun))
	}
	if o.OverloadClients < 1 || o.OverloadClients > 5000 {
		errs = append(errs, fmt.Errorf("-overload-clients %d: 1 to 5000", o.OverloadClients))
	}
	if o.Timeout < 10*time.Second {
		errs = append(errs, fmt.Errorf("-timeout %s: at least 10s", o.Timeout))
	}
	return errs
}
