package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
	"github.com/pawnshop/auction/gen/go/cluster/v1/clusterv1connect"
	"github.com/pawnshop/auction/services/devstack/stack"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/protobuf/encoding/protojson"
)

// readTimeout bounds one read: long enough for a baseline read waiting
// behind FerretDB's full scans to finish (the platform applies its own
// READ_ATTEMPT_TIMEOUT and REQUEST_TIMEOUT).
const readTimeout = time.Minute

const (
	baselineQuery = "direct query"
	baselineRPC   = "worker RPC"
	baselineRelay = "minimal relay"
)

// scenarioRead measures GET /item/fetch/{id} through the dispatcher and a
// worker against the worker's fetch RPC called directly and against a
// minimal handler running the same MongoDB queries, at a fixed concurrency,
// on two databases: the data set (every item with a buy, a sell and a pawn),
// and a small one (hopItems items, no history) on which the database's work
// is small, which shows what the dispatcher and worker hops themselves cost.
// FerretDB-on-SQLite filters in full scans (only an _id lookup is pushed down
// to SQLite, and even that scans the table), so on the dev stack a read's
// cost grows with the collections; a real MongoDB uses the worker's indexes.
func (b *bench) scenarioRead(ctx context.Context) error {
	b.res.Baselines[baselineQuery] = "a minimal net/http handler in this program, GET /item/{id}: what a worker's fetch runs " +
		"(one findOne by _id on the items collection, the item and its buys / sells / pawns maps decoded with internal/protobson, " +
		"the history sorted by date then event id) on the same database with the driver, the answer as protojson GetItemResponse, " +
		"as the dispatcher's REST route answers."
	b.res.Baselines[baselineRPC] = "the worker's FetchItem RPC called directly with the generated Connect client " +
		"(binary protobuf over the cluster's mutual TLS with the dispatcher's certificate, answers not compressed, as the dispatcher calls it), " +
		"alternating over the 2 workers' addresses from the dispatcher's /readyz (read with the stack's key: the addresses need admin)."
	b.res.Baselines[baselineRelay] = "a minimal net/http handler in this program, GET /item/{id}: the worker's FetchItem RPC called " +
		"as in the worker RPC baseline, the answer as protojson GetItemResponse: the two hops of the platform's read with nothing else " +
		"(no edge, routing, auth, validation, audit or metrics), so the platform over it is the dispatcher's own cost, and it over " +
		"the direct query is what any relay through a worker costs."
	t := time.Now()
	db, ids, err := b.loadItems(ctx, "read", b.o.Items, true, 2)
	if err != nil {
		return err
	}
	b.say("read: %d items with history loaded and checked in %s", len(ids), time.Since(t).Round(time.Millisecond))
	b.readDB, b.readIDs = db, ids
	if err := b.readOn(ctx, "read", fmt.Sprintf("%d items with history", len(ids)), db, ids, b.listAlone); err != nil {
		return err
	}
	hop, hopIDs, err := b.loadItems(ctx, "read_hop", min(hopItems, b.o.Items), false, 2)
	if err != nil {
		return err
	}
	return b.readOn(ctx, "read.hop", fmt.Sprintf("%d items, no history", len(hopIDs)), hop, hopIDs, nil)
}

// hopItems is the size of the read path's small database.
const hopItems = 250

// readOn starts two workers on db and runs the read rounds, each side in
// turn; alone, when set, then measures what else runs one call at a time
// on the workers (the listings).
func (b *bench) readOn(ctx context.Context, name, label, db string, items []string, alone func(context.Context, string, int) error) error {
	ids := []string{name + "-" + b.run + "-1", name + "-" + b.run + "-2"}
	workers, err := b.startWorkersAtEnd(ctx, ids, name, db)
	if err != nil {
		return err
	}
	defer b.stopWorkers(workers)
	addrs, err := b.workerAddresses(ctx, ids)
	if err != nil {
		return err
	}
	queryURL, stop, err := serve(queryHandler(b.mongo.Database(db)))
	if err != nil {
		return err
	}
	defer stop()
	rpcs := b.workerClients(addrs)
	relayURL, stopRelay, err := serve(relayHandler(rpcs))
	if err != nil {
		return err
	}
	defer stopRelay()
	sides := b.readSides(items, queryURL, relayURL, rpcs)
	vsQuery := &Scenario{Name: name + ".query", Title: "Read GET /item/fetch/{id}, " + label + ": req/s", Metric: "rate",
		Baseline: baselineQuery, Target: 0.7, Goal: "≥ 0.7× baseline"}
	vsRPC := &Scenario{Name: name + ".rpc", Title: "Read GET /item/fetch/{id}, " + label + ": req/s", Metric: "rate",
		Baseline: baselineRPC, Goal: "(no target: the dispatcher hop)"}
	vsRelay := &Scenario{Name: name + ".relay", Title: "Read GET /item/fetch/{id}, " + label + ": req/s", Metric: "rate",
		Baseline: baselineRelay, Goal: "(no target: the dispatcher's own cost)"}
	calls := readAlone(ctx, sides)
	aloneMs := map[string]float64{}
	for side, ds := range calls {
		aloneMs[side] = median(ds)
	}
	if name == "read" {
		b.res.add(fetchAlone(label, calls))
	}
	for r := 1; r <= b.o.Rounds; r++ {
		got, err := b.readRound(ctx, name, r, sides, len(items))
		if err != nil {
			return err
		}
		for side, smp := range got {
			smp.AloneMs = aloneMs[side]
			got[side] = smp
		}
		q, p, c, l := got["query"], got["platform"], got["rpc"], got["relay"]
		vsQuery.Rounds = append(vsQuery.Rounds, Round{r, "baseline", q}, Round{r, "platform", p})
		vsRPC.Rounds = append(vsRPC.Rounds, Round{r, "baseline", c}, Round{r, "platform", p})
		vsRelay.Rounds = append(vsRelay.Rounds, Round{r, "baseline", l}, Round{r, "platform", p})
		b.say("%s round %d: query %.1f/s (p99 %.1f ms, %d errors, CPU %.0f µs/req), platform %.1f/s (p99 %.1f ms, %d errors, CPU %.0f µs/req), "+
			"rpc %.1f/s (p99 %.1f ms, %d errors, CPU %.0f µs/req), relay %.1f/s (p99 %.1f ms, %d errors, CPU %.0f µs/req)",
			name, r, q.Rate, q.P99, q.Errors, q.CPUUsPerOp, p.Rate, p.P99, p.Errors, p.CPUUsPerOp, c.Rate, c.P99, c.Errors, c.CPUUsPerOp, l.Rate, l.P99, l.Errors, l.CPUUsPerOp)
	}
	for _, sc := range []*Scenario{vsQuery, vsRPC, vsRelay} {
		sc.finish()
		b.res.add(sc)
	}
	// The listings last: on the dev stack's database a listing scans the
	// collection for seconds, and a scan the caller gave up on may still
	// hold the database's CPU for a while; measured before the rounds, it
	// slowed every side of the first ones.
	if alone != nil {
		return alone(ctx, db, len(items))
	}
	return nil
}

// fetchAloneTarget is the target for one fetch by id alone.
const fetchAloneTarget = 10.0 // ms, p50

// fetchAlone is the row of a fetch by id alone: the platform's calls made
// one at a time against the direct query's; the ratio is the target over
// the platform's p50 (at least 1 meets).
func fetchAlone(label string, calls map[string][]float64) *Scenario {
	sc := &Scenario{Name: "read.alone", Title: "Read GET /item/fetch/{id}, " + label + ": one call alone", Metric: "alone",
		Baseline: baselineQuery, Target: 1, Goal: fmt.Sprintf("p50 ≤ %.0f ms", fetchAloneTarget)}
	for side, name := range map[string]string{"platform": "platform", "query": "baseline"} {
		for k, d := range calls[side] {
			sc.Rounds = append(sc.Rounds, Round{k + 1, name, Sample{P50: d, P99: d, N: 1}})
		}
	}
	sc.Platform, sc.BaselineResult = aloneSample(calls["platform"]), aloneSample(calls["query"])
	if sc.Platform.P50 > 0 {
		sc.Ratio = fetchAloneTarget / sc.Platform.P50
	}
	return sc
}

// aloneSample summarizes latencies of calls made one at a time (ms).
func aloneSample(ds []float64) Sample {
	lat := make([]time.Duration, len(ds))
	for i, d := range ds {
		lat[i] = time.Duration(d * float64(time.Millisecond))
	}
	s := summarize(lat, 0, 0)
	s.Rate = 0
	return s
}

// readSide makes, for a starting offset into the items, the read one
// request of a side sends.
type readSide func(off int) func(context.Context, int) error

// workerClients are fetch RPC clients of the workers at addrs, as the
// dispatcher's (services/dispatcher/adapters/workerconnect): the cluster's
// mutual TLS with its certificate, answers not compressed.
func (b *bench) workerClients(addrs []string) []clusterv1connect.WorkerServiceClient {
	var rpcs []clusterv1connect.WorkerServiceClient
	for _, a := range addrs {
		rpcs = append(rpcs, clusterv1connect.NewWorkerServiceClient(b.workers, a, connect.WithAcceptCompression("gzip", nil, nil)))
	}
	return rpcs
}

// readSides are the read path's four sides: the platform's REST route, the
// direct-query baseline at queryURL, the minimal relay at relayURL and the
// workers' fetch RPC through rpcs.
func (b *bench) readSides(items []string, queryURL, relayURL string, rpcs []clusterv1connect.WorkerServiceClient) map[string]readSide {
	return map[string]readSide{
		"platform": func(off int) func(context.Context, int) error {
			return func(ctx context.Context, i int) error {
				return b.get(ctx, b.s.URL()+"/item/fetch/"+items[(i*7919+off)%len(items)], http.StatusOK)
			}
		},
		"query": func(off int) func(context.Context, int) error {
			return func(ctx context.Context, i int) error {
				return b.get(ctx, queryURL+"/item/"+items[(i*7919+off)%len(items)], http.StatusOK)
			}
		},
		"relay": func(off int) func(context.Context, int) error {
			return func(ctx context.Context, i int) error {
				return b.get(ctx, relayURL+"/item/"+items[(i*7919+off)%len(items)], http.StatusOK)
			}
		},
		"rpc": func(off int) func(context.Context, int) error {
			return func(ctx context.Context, i int) error {
				id := items[(i*7919+off)%len(items)]
				res, err := rpcs[i%len(rpcs)].FetchItem(ctx, connect.NewRequest(&clusterv1.FetchItemRequest{Id: id}))
				if err != nil {
					return err
				}
				if res.Msg.GetItem().GetItem().GetId() != id {
					return errors.New("wrong item")
				}
				return nil
			}
		},
	}
}

// readOrder is the order of the read sides in the first round; each round
// rotates it.
var readOrder = []string{"query", "platform", "rpc", "relay"}

// readAlone warms each side up (connections, caches), then times calls
// made one at a time (up to readAloneCalls, for at most readAloneFor, at
// least 3): a read's latency without load, by side, in ms.
func readAlone(ctx context.Context, sides map[string]readSide) map[string][]float64 {
	alone := map[string][]float64{}
	for _, side := range readOrder {
		var ds []float64
		start := time.Now()
		for i := 0; i <= readAloneCalls && (i <= 3 || time.Since(start) < readAloneFor); i++ {
			wctx, cancel := context.WithTimeout(ctx, readTimeout)
			t := time.Now()
			err := sides[side](0)(wctx, i)
			cancel()
			if i > 0 && err == nil {
				ds = append(ds, float64(time.Since(t).Microseconds())/1000)
			}
		}
		alone[side] = ds
	}
	return alone
}

// The calls of readAlone.
const (
	readAloneCalls = 21
	readAloneFor   = 5 * time.Second
)

// readRound runs round r: each side closed-loop for -duration in all, in
// -read-slices slices taken in turn (the order rotated by round and by
// slice), each slice from a random offset into the n items. A side's
// slices add up to one sample: its calls over its own time, so that the
// machine's drift during the round falls on every side alike. With
// -profile, the first slice of each side is profiled.
func (b *bench) readRound(ctx context.Context, name string, r int, sides map[string]readSide, n int) (map[string]Sample, error) {
	slices := max(b.o.ReadSlices, 1)
	d := b.o.Duration / time.Duration(slices)
	most := max(b.o.MaxRequests/slices, 1)
	runs := map[string]*loopRun{}
	for sl := range slices {
		for k := range readOrder {
			side := readOrder[(k+r-1+sl)%len(readOrder)]
			if runs[side] == nil {
				runs[side] = &loopRun{}
			}
			run := func() {
				runs[side].add(runClosedLoop(ctx, b.o.ReadConcurrency, d, most, readTimeout, sides[side](rand.IntN(n))))
			}
			if sl == 0 {
				b.profiled(name+"-"+side, r, run)
			} else {
				run()
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	got := map[string]Sample{}
	for side, run := range runs {
		got[side] = run.sample()
	}
	return got, nil
}

// startWorkersAtEnd starts workers on db whose new consumer group starts at
// the current end of the topics: they serve reads and ingest only what is
// written from now on.
func (b *bench) startWorkersAtEnd(ctx context.Context, ids []string, name, db string) ([]*stack.Worker, error) {
	ends, err := b.admin.ends()
	if err != nil {
		return nil, err
	}
	group := fmt.Sprintf("bench-%s-%s", b.run, name)
	if err := b.admin.position(ctx, group, ends); err != nil {
		return nil, err
	}
	return b.startWorkers(ctx, ids, group, db)
}

// queryHandler is the direct-query baseline on db.
func queryHandler(db *mongo.Database) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /item/{id}", func(w http.ResponseWriter, r *http.Request) {
		item, err := queryItem(r.Context(), db, r.PathValue("id"))
		if errors.Is(err, errNotFound) {
			http.Error(w, `{"code":"not_found"}`, http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, `{"code":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		body, err := protojson.Marshal(&auctionv1.GetItemResponse{Item: item})
		if err != nil {
			http.Error(w, `{"code":"internal"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	return mux
}

// relayHandler is the minimal-relay baseline: each GET /item/{id} is one
// FetchItem RPC to a worker of rpcs, in turn, answered as protojson.
func relayHandler(rpcs []clusterv1connect.WorkerServiceClient) http.Handler {
	var next atomic.Uint64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /item/{id}", func(w http.ResponseWriter, r *http.Request) {
		rpc := rpcs[next.Add(1)%uint64(len(rpcs))]
		res, err := rpc.FetchItem(r.Context(), connect.NewRequest(&clusterv1.FetchItemRequest{Id: r.PathValue("id")}))
		if connect.CodeOf(err) == connect.CodeNotFound {
			http.Error(w, `{"code":"not_found"}`, http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, `{"code":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		body, err := protojson.Marshal(&auctionv1.GetItemResponse{Item: res.Msg.GetItem()})
		if err != nil {
			http.Error(w, `{"code":"internal"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	return mux
}

// serve runs h on a loopback port and returns its base URL.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// get sends a GET and reads the whole answer; a status other than want is an error.
func (b *bench) get(ctx context.Context, url string, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := b.http.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("GET: status %d", res.StatusCode)
	}
	return nil
}

// workerAddresses waits until the dispatcher's /readyz lists every worker
// in ids and returns their addresses.
func (b *bench) workerAddresses(ctx context.Context, ids []string) ([]string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ready struct {
			Workers []struct{ ID, Address string } `json:"workers"`
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.s.URL()+"/readyz", nil)
		if res, err := b.http.Do(req); err == nil {
			_ = json.NewDecoder(res.Body).Decode(&ready)
			res.Body.Close()
		}
		var addrs []string
		for _, w := range ready.Workers {
			if slices.Contains(ids, w.ID) {
				addrs = append(addrs, w.Address)
			}
		}
		if len(addrs) == len(ids) {
			return addrs, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("workers %v did not all join the dispatcher: /readyz lists %+v", ids, ready.Workers)
		}
		if err := ctxSleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}
