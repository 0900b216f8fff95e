package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pawnshop/auction/services/devstack/stack"
	"go.mongodb.org/mongo-driver/v2/bson"
)

const (
	baselineModel = "direct model write"
	baselineBulk  = "bulk insert (old model)"
)

// scenarioIngest measures events per second from the topics into MongoDB
// with 1 and 2 workers, each round on fresh databases (and, for the
// platform, a fresh consumer group positioned at the start of the backlog),
// against two baselines on the database alone: the same events written as
// the worker's model writes them (upserts of the items' documents by _id),
// which isolates the platform's own overhead, and the same events inserted
// as separate documents (the model before issue 14), which shows what the
// database charges for the one-lookup model.
func (b *bench) scenarioIngest(ctx context.Context) error {
	if err := b.produceBacklog(ctx); err != nil {
		return err
	}
	batch := b.s.WorkerConfig("x").BatchSize
	b.res.Settings.BatchSize = batch
	b.res.Baselines[baselineModel] = fmt.Sprintf("the same %d events (%d items) written straight into the same MongoDB as the worker's model writes them: "+
		"the ItemAdded events inserted as new documents by one unordered InsertMany per batch (those whose document exists then upserted), each action one UpdateOne upsert filtered by _id that $sets buys/sells/pawns.<event id>, "+
		"encoded by internal/protobson, batches of %d events of one kind (as the worker batches them) sent as unordered BulkWrites of at most %d upserts "+
		"(-upserts-per-command; FerretDB v1 hangs at about 100 matching updates in flight), from as many goroutines as the platform has workers, into a fresh database "+
		"with the worker's indexes. What is left between it and the platform is the platform's own work: consuming from Kafka, decoding, "+
		"validating, committing. The platform's time runs from the first worker's partition assignment (its start-up, also reported, is "+
		"excluded) until the group committed the whole backlog, which it does only after storing it; every round then compares each stored "+
		"document with the harness's.", b.data.Events(), len(b.data.ItemIDs), batch, b.o.UpsertsPerCommand)
	b.res.Baselines[baselineBulk] = fmt.Sprintf("the same %d events as separate documents, the model before issue 14 (the ItemAdded in items by item id, "+
		"each action in buy_actions / sell_actions / pawn_actions by event id, with that model's indexes), inserted by InsertMany, unordered, "+
		"%d per call, one collection per call, from as many goroutines as the platform has workers: the database's cost of plain inserts, "+
		"against which the one-lookup model's upserts are measured.", b.data.Events(), batch)
	vsModel, vsBulk := map[int]*Scenario{}, map[int]*Scenario{}
	for _, n := range []int{1, 2} {
		vsModel[n] = &Scenario{Name: fmt.Sprintf("ingest.%dw", n), Title: fmt.Sprintf("Ingest, %d worker(s): events/s", n),
			Metric: "rate", Baseline: baselineModel, Target: 0.9, Goal: "≥ 0.9× baseline"}
		vsBulk[n] = &Scenario{Name: fmt.Sprintf("ingest.%dw.insert", n), Title: fmt.Sprintf("Ingest, %d worker(s): events/s", n),
			Metric: "rate", Baseline: baselineBulk, Goal: "(the issue's 0.9; the database's cost of upserts against inserts)"}
	}
	stalled := map[int]string{} // by workers: the first stalled round's note
	for r := 1; r <= b.o.Rounds; r++ {
		for _, n := range []int{1, 2} {
			var model, bulk, plat Sample
			steps := []func() error{
				func() (err error) { model, err = b.ingestModel(ctx, r, n, batch); return err },
				func() (err error) { bulk, err = b.ingestBulk(ctx, r, n, batch); return err },
				func() (err error) {
					if note, ok := stalled[n]; ok { // it would stall again: report, do not wait
						plat = Sample{Errors: 1, ErrorKinds: map[string]int{"not run: an earlier round stalled": 1}, Note: note}
						return nil
					}
					plat, err = b.ingestPlatform(ctx, r, n)
					if err == nil && plat.ErrorKinds["stalled"] > 0 {
						stalled[n] = fmt.Sprintf("round %d: %s", r, plat.Note)
					}
					return err
				},
			}
			if r%2 == 0 { // the platform first every other round
				steps = append(steps[2:], steps[:2]...)
			}
			for _, f := range steps {
				if err := f(); err != nil {
					return err
				}
			}
			vsModel[n].Rounds = append(vsModel[n].Rounds, Round{Round: r, Side: "baseline", Sample: model}, Round{Round: r, Side: "platform", Sample: plat})
			vsBulk[n].Rounds = append(vsBulk[n].Rounds, Round{Round: r, Side: "baseline", Sample: bulk}, Round{Round: r, Side: "platform", Sample: plat})
			b.say("ingest round %d, %d worker(s): model write %.0f/s (CPU %.0f µs/event), bulk insert %.0f/s, platform %.0f/s (CPU %.0f µs/event; start-up %.0f ms)",
				r, n, model.Rate, model.CPUUsPerOp, bulk.Rate, plat.Rate, plat.CPUUsPerOp, plat.StartupMs)
		}
	}
	for _, n := range []int{1, 2} {
		vsModel[n].finish()
		vsBulk[n].finish()
		b.res.add(vsModel[n])
		b.res.add(vsBulk[n])
	}
	return nil
}

// ingestModel writes the backlog's events as the worker's model does, with
// par goroutines, and checks the documents.
func (b *bench) ingestModel(ctx context.Context, round, par, batch int) (Sample, error) {
	db := b.db(fmt.Sprintf("ingest_model_r%d_%dw", round, par))
	if err := b.ensureIndexes(ctx, db, workerIndexes()); err != nil {
		return Sample{}, err
	}
	// Each goroutine owns the items i ≡ g (mod par) and writes their
	// events in batches of one kind each, as the worker writes them, the
	// kinds' batches interleaved. No two goroutines update one document at
	// once: FerretDB v1 updates a document by reading and rewriting all of
	// it, without isolation, so concurrent updates of one document lose
	// all but the last one's fields (a lost update).
	kinds := []string{oldItemsColl, oldBuysColl, oldSellsColl, oldPawnsColl}
	shards := make([][][]modelWrite, par)
	for g := range par {
		byKind := make([][]modelWrite, len(kinds))
		for k, kind := range kinds {
			for i, w := range b.data.Writes[kind] {
				if i%par == g {
					byKind[k] = append(byKind[k], w)
				}
			}
		}
		for i := 0; ; i += batch {
			more := false
			for _, ws := range byKind {
				if i < len(ws) {
					shards[g] = append(shards[g], ws[i:min(len(ws), i+batch)])
					more = true
				}
			}
			if !more {
				break
			}
		}
	}
	c := b.mongo.Database(db).Collection(itemsColl)
	stop := b.startProfile(fmt.Sprintf("ingest-%dw-model", par), round)
	start, cpu := time.Now(), processCPU()
	err := parallel(ctx, par, par, func(ctx context.Context, g int) error {
		for _, job := range shards[g] {
			if err := writeBatch(ctx, c, job, b.o.UpsertsPerCommand); err != nil {
				return err
			}
		}
		return nil
	})
	elapsed, cpu := time.Since(start), processCPU()-cpu
	stop()
	if err != nil {
		return Sample{}, fmt.Errorf("direct model write: %w", err)
	}
	if err := b.checkDocs(ctx, db, b.data.Items); err != nil {
		return Sample{}, fmt.Errorf("direct model write: %w", err)
	}
	_ = b.mongo.Database(db).Drop(ctx)
	return Sample{Rate: float64(b.data.Events()) / elapsed.Seconds(), N: b.data.Events(), Seconds: elapsed.Seconds(),
		CPUUsPerOp: perEvent(cpu, b.data.Events())}, nil
}

// perEvent is cpu spread over events, in microseconds.
func perEvent(cpu time.Duration, events int) float64 {
	return float64(cpu.Microseconds()) / float64(max(events, 1))
}

// ingestBulk inserts the backlog's events as the old model's documents
// with par goroutines.
func (b *bench) ingestBulk(ctx context.Context, round, par, batch int) (Sample, error) {
	db := b.db(fmt.Sprintf("ingest_bulk_r%d_%dw", round, par))
	if err := b.ensureIndexes(ctx, db, oldIndexes()); err != nil {
		return Sample{}, err
	}
	type job struct {
		coll string
		docs []document
	}
	var jobs []job
	for coll, cd := range b.data.OldDocs {
		for i := 0; i < len(cd); i += batch {
			jobs = append(jobs, job{coll, cd[i:min(i+batch, len(cd))]})
		}
	}
	stop := b.startProfile(fmt.Sprintf("ingest-%dw-bulk", par), round)
	start := time.Now()
	err := parallel(ctx, len(jobs), par, func(ctx context.Context, k int) error {
		return insertBatch(ctx, b.mongo.Database(db).Collection(jobs[k].coll), jobs[k].docs)
	})
	elapsed := time.Since(start)
	stop()
	if err != nil {
		return Sample{}, fmt.Errorf("bulk insert: %w", err)
	}
	for coll, docs := range b.data.OldDocs {
		n, err := b.mongo.Database(db).Collection(coll).CountDocuments(ctx, bson.D{})
		if err != nil {
			return Sample{}, fmt.Errorf("count %s.%s: %w", db, coll, err)
		}
		if n != int64(len(docs)) {
			return Sample{}, fmt.Errorf("bulk insert: %s.%s holds %d documents, want %d", db, coll, n, len(docs))
		}
	}
	_ = b.mongo.Database(db).Drop(ctx)
	return Sample{Rate: float64(b.data.Events()) / elapsed.Seconds(), N: b.data.Events(), Seconds: elapsed.Seconds()}, nil
}

// checkIndexes verifies that db, where the platform's workers ran, holds
// exactly the indexes ensureIndexes gives the baselines' databases.
func (b *bench) checkIndexes(ctx context.Context, db string) error {
	for coll, idx := range workerIndexes() {
		want := map[string]bool{}
		for _, keys := range idx {
			var k []string
			for _, e := range keys {
				k = append(k, fmt.Sprintf("%s:%v", e.Key, e.Value))
			}
			want[strings.Join(k, ",")] = true
		}
		got, err := b.indexKeys(ctx, db, coll)
		if err != nil {
			return err
		}
		if !maps.Equal(got, want) {
			return fmt.Errorf("the workers indexed %s.%s on %v; the baselines use %v: update workerIndexes", db, coll, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	}
	return nil
}

// indexKeys lists the key patterns ("field:direction,…") of the indexes of
// db.coll other than _id's.
func (b *bench) indexKeys(ctx context.Context, db, coll string) (map[string]bool, error) {
	cur, err := b.mongo.Database(db).Collection(coll).Indexes().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s.%s: %w", db, coll, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	got := map[string]bool{}
	for cur.Next(ctx) {
		keys, err := cur.Current.LookupErr("key")
		if err != nil {
			return nil, fmt.Errorf("index of %s.%s without a key: %w", db, coll, err)
		}
		elems, err := keys.Document().Elements()
		if err != nil {
			return nil, err
		}
		var k []string
		for _, e := range elems {
			dir, _ := e.Value().AsInt64OK()
			k = append(k, fmt.Sprintf("%s:%d", e.Key(), dir))
		}
		if p := strings.Join(k, ","); p != "_id:1" {
			got[p] = true
		}
	}
	return got, cur.Err()
}

// ingestPlatform starts n workers on a fresh group and database after the
// backlog exists and times them until the group committed all of it.
func (b *bench) ingestPlatform(ctx context.Context, round, n int) (Sample, error) {
	group := fmt.Sprintf("bench-%s-ingest-r%d-%dw", b.run, round, n)
	db := b.db(fmt.Sprintf("ingest_r%d_%dw", round, n))
	if err := b.admin.position(ctx, group, b.backlogFrom); err != nil {
		return Sample{}, err
	}
	var ids []string
	for k := 1; k <= n; k++ {
		ids = append(ids, fmt.Sprintf("ingest-%s-r%d-%dw-%d", b.run, round, n, k))
	}
	stop := b.startProfile(fmt.Sprintf("ingest-%dw-platform", n), round)
	defer stop()
	t0, cpu := time.Now(), processCPU()
	workers, err := b.startWorkers(ctx, ids, group, db)
	if err != nil {
		return Sample{}, err
	}
	events := int64(b.data.Events())
	done, uncommitted, err := b.untilIngested(ctx, round, group, db, ids)
	cpu = processCPU() - cpu
	if errors.Is(err, errIngestStalled) {
		stop()
		b.say("ingest round %d, %d worker(s): %v", round, n, err)
		_ = b.stopWorkers(workers)
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = b.mongo.Database(db).Drop(dctx)
		cancel()
		return Sample{Errors: 1, ErrorKinds: map[string]int{"stalled": 1}, Uncommitted: int(uncommitted), Note: err.Error()}, nil
	}
	if err != nil {
		return Sample{}, err
	}
	stop()
	assigned, ok := b.hook.firstAssigned(ids...)
	if !ok {
		assigned = t0
	}
	if err := b.checkDocs(ctx, db, b.data.Items); err != nil {
		return Sample{}, fmt.Errorf("the workers' documents: %w", err)
	}
	if err := b.checkIndexes(ctx, db); err != nil {
		return Sample{}, err
	}
	calls, docs := b.insertCalls(ctx, ids)
	if err := b.stopWorkers(workers); err != nil {
		return Sample{}, err
	}
	_ = b.mongo.Database(db).Drop(ctx)
	elapsed := done.Sub(assigned)
	s := Sample{Rate: float64(events) / elapsed.Seconds(), N: int(events), Seconds: elapsed.Seconds(),
		StartupMs: float64(assigned.Sub(t0).Microseconds()) / 1000, CPUUsPerOp: perEvent(cpu, int(events))}
	if calls > 0 {
		s.BatchDocs = docs / calls
	}
	s.Uncommitted = int(uncommitted)
	if last, ok := b.hook.lastAssigned(ids...); ok && n > 1 {
		s.RebalanceMs = float64(last.Sub(assigned).Microseconds()) / 1000
	}
	return s, nil
}

// untilIngested waits until group has ingested the backlog into db and
// returns when it did and how many events it stored without committing.
// Done is when the group committed the whole backlog. Should a
// partition's committed offset stay short of a batch the workers did store
// (a commit refused in a rebalance and not made again), the commits stall:
// after a second without progress, once the workers report every event
// stored (their records_committed counters), the documents are compared
// with the data set, and if they hold every event the run ended at the
// last commit progress (those events are reported as stored but never
// committed); otherwise the wait goes on. The comparison reads and decodes
// every document, which on the dev stack's database costs seconds of CPU:
// run whenever commits paused for a second, as a batch of upserts often
// takes that long, it took 7-8% of a round's CPU from the workers.
func (b *bench) untilIngested(ctx context.Context, round int, group, db string, workers []string) (done time.Time, uncommitted int64, err error) {
	events := int64(b.data.Events())
	deadline := time.Now().Add(max(2*time.Minute, time.Duration(events)*10*time.Millisecond))
	progress, checked := time.Now(), time.Now()
	last := int64(-1)
	for {
		c, err := b.admin.committedSince(ctx, group, b.backlogFrom)
		if err != nil {
			return time.Time{}, 0, err
		}
		now := time.Now()
		if c >= events {
			return now, 0, nil
		}
		if c != last {
			last, progress = c, now
		}
		if now.Sub(progress) > time.Second && now.Sub(checked) > time.Second {
			stored := b.workerSums(ctx, workers, recordsCommitted)[recordsCommitted]
			if stored >= float64(events) && b.complete(ctx, db, b.data.Items) {
				if c <= 0 {
					return now, events - c, nil // no commit at all: the count is the only clock
				}
				return progress, events - c, nil
			}
			checked = time.Now() // not all stored yet: check again in a second
		}
		if stall := b.ingestStall(); now.Sub(progress) > stall {
			return time.Time{}, events - c, fmt.Errorf("%w: %d of %d events committed, none for %s, the documents incomplete", errIngestStalled, c, events, stall)
		}
		if now.After(deadline) {
			return time.Time{}, events - c, fmt.Errorf("%w: %d of %d events committed by the deadline", errIngestStalled, c, events)
		}
		if err := ctxSleep(ctx, 10*time.Millisecond); err != nil {
			return time.Time{}, 0, err
		}
	}
}

// ingestStall is how long an ingest round may go without a commit before
// it is given up (and reported as failed, the run going on): 30 s, 10 s in
// quick mode (whose backlog takes well under a second).
func (b *bench) ingestStall() time.Duration {
	if b.o.Quick {
		return 10 * time.Second
	}
	return 30 * time.Second
}

// errIngestStalled is a platform ingest round that did not finish.
var errIngestStalled = errors.New("ingest stalled")

// startWorkers starts workers with these ids on group and db, concurrently.
func (b *bench) startWorkers(ctx context.Context, ids []string, group, db string) ([]*stack.Worker, error) {
	ws := make([]*stack.Worker, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := b.s.WorkerConfig(id)
			c.KafkaGroup, c.MongoDatabase = group, db
			ws[i], errs[i] = b.s.StartWorkerWith(ctx, c)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, w := range ws {
			if w != nil {
				_ = b.s.StopWorker(context.Background(), w)
			}
		}
		return nil, err
	}
	return ws, nil
}

func (b *bench) stopWorkers(ws []*stack.Worker) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, w := range ws {
		errs = append(errs, b.s.StopWorker(ctx, w))
	}
	return errors.Join(errs...)
}

// insertCalls reads, from the metrics the dispatcher serves for the whole
// stack, how many batch writes the workers made and how many documents they
// carried (auction_worker_mongo_batch_size).
func (b *bench) insertCalls(ctx context.Context, workers []string) (calls, docs float64) {
	const sum, count = "auction_worker_mongo_batch_size_sum", "auction_worker_mongo_batch_size_count"
	m := b.workerSums(ctx, workers, sum, count)
	return m[count], m[sum]
}

// recordsCommitted counts the records a worker stored (or dead-lettered)
// and stored the offsets of, by topic.
const recordsCommitted = "auction_worker_records_committed_total"

// workerSums adds up, by metric name, the samples of names (every label
// set) that the given workers report, from the metrics the dispatcher
// serves for the whole stack (each worker's labelled worker="<id>"). A
// metric that cannot be read counts 0.
func (b *bench) workerSums(ctx context.Context, workers []string, names ...string) map[string]float64 {
	out := make(map[string]float64, len(names))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.s.URL()+"/metrics", nil)
	if err != nil {
		return out
	}
	res, err := b.http.Do(req)
	if err != nil {
		return out
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, _, ok := strings.Cut(line, "{")
		if !ok || !slices.Contains(names, name) ||
			!slices.ContainsFunc(workers, func(w string) bool { return strings.Contains(line, `worker="`+w+`"`) }) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			out[name] += v
		}
	}
	return out
}
