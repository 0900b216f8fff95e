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

	"github.com/pawnshop/auction/internal/protobson"
	"github.com/pawnshop/auction/services/devstack/stack"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const baselineBulk = "bulk insert"

// scenarioIngest measures events per second from the topics into MongoDB
// with 1 and 2 workers against bulk inserts of the same documents, each
// round on fresh databases (and, for the platform, a fresh consumer group
// positioned at the start of the backlog).
func (b *bench) scenarioIngest(ctx context.Context) error {
	if err := b.produceBacklog(ctx); err != nil {
		return err
	}
	batch := b.s.WorkerConfig("x").BatchSize
	b.res.Settings.BatchSize = batch
	b.res.Baselines[baselineBulk] = fmt.Sprintf("the same %d documents (protobuf events encoded by internal/protobson, _id = the worker's key) "+
		"inserted straight into the same MongoDB with the driver: InsertMany, unordered, %d documents per call, one collection per call, "+
		"from as many goroutines as the platform has workers, into a fresh database with the worker's indexes. "+
		"The platform's time runs from the first worker's partition assignment (its start-up, also reported, is excluded) until the "+
		"group committed the whole backlog, which it does only after storing it.", b.data.Events(), batch)
	scs := map[int]*Scenario{}
	for _, n := range []int{1, 2} {
		scs[n] = &Scenario{Name: fmt.Sprintf("ingest.%dw", n), Title: fmt.Sprintf("Ingest, %d worker(s): events/s", n),
			Metric: "rate", Baseline: baselineBulk, Target: 0.9, Goal: "≥ 0.9× baseline"}
	}
	for r := 1; r <= b.o.Rounds; r++ {
		for _, n := range []int{1, 2} {
			var base, plat Sample
			var err error
			base, err = b.ingestBaseline(ctx, r, n, batch)
			if err != nil {
				return err
			}
			scs[n].Rounds = append(scs[n].Rounds, Round{Round: r, Side: "baseline", Sample: base})
			plat, err = b.ingestPlatform(ctx, r, n)
			if err != nil {
				return err
			}
			scs[n].Rounds = append(scs[n].Rounds, Round{Round: r, Side: "platform", Sample: plat})
			b.say("ingest round %d, %d worker(s): baseline %.0f/s, platform %.0f/s (start-up %.0f ms)", r, n, base.Rate, plat.Rate, plat.StartupMs)
		}
	}
	for _, n := range []int{1, 2} {
		scs[n].finish()
		b.res.add(scs[n])
	}
	return nil
}

// ingestBaseline bulk-inserts the data set with par goroutines.
func (b *bench) ingestBaseline(ctx context.Context, round, par, batch int) (Sample, error) {
	db := b.db(fmt.Sprintf("ingest_base_r%d_%dw", round, par))
	if err := b.ensureIndexes(ctx, db); err != nil {
		return Sample{}, err
	}
	stop := b.startProfile(fmt.Sprintf("ingest-%dw-baseline", par), round)
	start := time.Now()
	err := b.bulkLoad(ctx, db, b.data.Docs, par, batch)
	elapsed := time.Since(start)
	stop()
	if err != nil {
		return Sample{}, fmt.Errorf("baseline insert: %w", err)
	}
	if err := b.checkStored(ctx, db, b.data.Docs); err != nil {
		return Sample{}, err
	}
	_ = b.mongo.Database(db).Drop(ctx)
	return Sample{Rate: float64(b.data.Events()) / elapsed.Seconds(), N: b.data.Events(), Seconds: elapsed.Seconds()}, nil
}

// bulkLoad inserts docs into db in batches from par goroutines.
func (b *bench) bulkLoad(ctx context.Context, db string, docs map[string][]document, par, batch int) error {
	type job struct {
		coll string
		docs []document
	}
	var jobs []job
	for coll, cd := range docs {
		for i := 0; i < len(cd); i += batch {
			jobs = append(jobs, job{coll, cd[i:min(i+batch, len(cd))]})
		}
	}
	ch := make(chan job)
	errs := make(chan error, par)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed := false
			for j := range ch { // after a failure, drain without inserting
				if failed {
					continue
				}
				if err := insertBatch(ctx, b.mongo.Database(db).Collection(j.coll), j.docs); err != nil {
					errs <- err
					failed = true
				}
			}
		}()
	}
	go func() {
		defer close(ch)
		for _, j := range jobs {
			select {
			case ch <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return ctx.Err()
}

// insertBatch is what the worker's store does with a batch, and nothing more:
// encode each event with protobson, the key in _id first, one unordered
// InsertMany.
func insertBatch(ctx context.Context, c *mongo.Collection, docs []document) error {
	batch := make([]any, 0, len(docs))
	for _, d := range docs {
		doc, err := protobson.MarshalWithID(d.ID, d.Msg)
		if err != nil {
			return err
		}
		batch = append(batch, doc)
	}
	_, err := c.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
	return err
}

// ensureIndexes gives a fresh database the indexes a worker creates at
// start (workerIndexes), one index per command as the worker does
// (FerretDB v1 mis-handles a createIndexes listing several).
func (b *bench) ensureIndexes(ctx context.Context, db string) error {
	for coll, idx := range workerIndexes() {
		for _, keys := range idx {
			if _, err := b.mongo.Database(db).Collection(coll).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys}); err != nil {
				return fmt.Errorf("create index on %s.%s: %w", db, coll, err)
			}
		}
	}
	return nil
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

// checkStored verifies that db holds exactly docs (by count).
func (b *bench) checkStored(ctx context.Context, db string, want map[string][]document) error {
	for coll, docs := range want {
		n, err := b.mongo.Database(db).Collection(coll).CountDocuments(ctx, bson.D{})
		if err != nil {
			return fmt.Errorf("count %s.%s: %w", db, coll, err)
		}
		if n != int64(len(docs)) {
			return fmt.Errorf("%s.%s holds %d documents, want %d", db, coll, n, len(docs))
		}
	}
	return nil
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
	t0 := time.Now()
	workers, err := b.startWorkers(ctx, ids, group, db)
	if err != nil {
		return Sample{}, err
	}
	events := int64(b.data.Events())
	done, uncommitted, err := b.untilIngested(ctx, round, group, db)
	if err != nil {
		return Sample{}, err
	}
	stop()
	assigned, ok := b.hook.firstAssigned(ids...)
	if !ok {
		assigned = t0
	}
	if err := b.checkStored(ctx, db, b.data.Docs); err != nil {
		return Sample{}, err
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
		StartupMs: float64(assigned.Sub(t0).Microseconds()) / 1000}
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
// Done is when the group committed the whole backlog. A commit the broker
// refuses (a rebalance changed the group's generation) is not retried by
// the worker, so a partition's committed offset can stay short of a batch
// it did store: when the commits stall for a second, the collections are
// counted, and if they hold the whole backlog the run ended at the last
// commit progress.
func (b *bench) untilIngested(ctx context.Context, round int, group, db string) (done time.Time, uncommitted int64, err error) {
	events := int64(b.data.Events())
	deadline := time.Now().Add(max(2*time.Minute, time.Duration(events)*time.Millisecond))
	progress := time.Now()
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
		if now.Sub(progress) > time.Second {
			if b.checkStored(ctx, db, b.data.Docs) == nil {
				if c <= 0 {
					return now, events - c, nil // no commit at all: the count is the only clock
				}
				return progress, events - c, nil
			}
			progress = time.Now() // not all stored yet: wait another second
		}
		if now.After(deadline) {
			return time.Time{}, 0, fmt.Errorf("ingest round %d: %d of %d events committed by the deadline", round, c, events)
		}
		if err := ctxSleep(ctx, 10*time.Millisecond); err != nil {
			return time.Time{}, 0, err
		}
	}
}

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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.s.URL()+"/metrics", nil)
	if err != nil {
		return 0, 0
	}
	res, err := b.http.Do(req)
	if err != nil {
		return 0, 0
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		sum := strings.HasPrefix(line, "auction_worker_mongo_batch_size_sum{")
		count := strings.HasPrefix(line, "auction_worker_mongo_batch_size_count{")
		if !sum && !count || !slices.ContainsFunc(workers, func(w string) bool { return strings.Contains(line, `worker="`+w+`"`) }) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		if sum {
			docs += v
		} else {
			calls += v
		}
	}
	return calls, docs
}
