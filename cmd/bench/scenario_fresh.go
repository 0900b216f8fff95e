package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	freshTarget   = 250 * time.Millisecond
	freshPoll     = 10 * time.Millisecond // the probes' resolution
	freshGiveUp   = 5 * time.Second
	probesPerSec  = 20
	probesInLine  = 8   // most probes polling at once: the harness's own read load stays bounded
	freshLight    = 100 // writes/s of the light row
	baselineFresh = "target"
)

// scenarioFreshness measures the time from a write's acknowledgement until
// GET /item/fetch/{id} returns it, while writes arrive open-loop at
// -fresh-rate (the target: 1,000 writes/s) and reads of existing
// items at -fresh-reads (100/s), and at a light 100 writes/s, which shows
// the pipeline's own latency. Each row runs two fresh workers with a group
// positioned at the end of the topics (no backlog) on the read path's
// database (-items items with history; a small one when the read scenario
// did not run), whose items the reads fetch.
func (b *bench) scenarioFreshness(ctx context.Context) error {
	b.res.Baselines[baselineFresh] = fmt.Sprintf("no baseline program: the issue's target, p99 under %s on the dev stack; the ratio is "+
		"the target over the measured p99 (at least 1 meets it). Writes (REST POST /item/add with an explicit id) are sent open-loop "+
		"at the row's rate for the run's duration (late writes are dropped after twice that); %d writes per second are probes "+
		"(at most %d polling at once), each polled with GET /item/fetch/{id} every %s from its 202 on; a probe whose polling gives up "+
		"(no poll answered 200 by %s) counts as an error and as %s. The ingest lag is how many written events the workers had not committed when "+
		"the sending stopped. Meanwhile GET /item/fetch/{id} of items already in the database is sent open-loop at the reads' rate "+
		"(their p50, p99 and errors are in the row).", freshTarget, probesPerSec, probesInLine, freshPoll, freshGiveUp, freshGiveUp)
	db, ids := b.readDB, b.readIDs
	if db == "" {
		var err error
		if db, ids, err = b.loadItems(ctx, "fresh", min(hopItems, b.o.Items), true, 2); err != nil {
			return err
		}
	}
	if err := b.freshRow(ctx, "freshness.light", freshLight, db, ids); err != nil {
		return err
	}
	return b.freshRow(ctx, "freshness", b.o.FreshRate, db, ids)
}

// freshRow runs the rounds of one freshness row at rate writes/s.
func (b *bench) freshRow(ctx context.Context, name string, rate float64, db string, existing []string) error {
	tag := map[string]string{"freshness": "fresh", "freshness.light": "light"}[name]
	ids := []string{tag + "-" + b.run + "-1", tag + "-" + b.run + "-2"}
	ends, err := b.admin.ends()
	if err != nil {
		return err
	}
	group := fmt.Sprintf("bench-%s-%s", b.run, tag)
	if err := b.admin.position(ctx, group, ends); err != nil {
		return err
	}
	workers, err := b.startWorkers(ctx, ids, group, db)
	if err != nil {
		return err
	}
	defer b.stopWorkers(workers)
	if _, err := b.workerAddresses(ctx, ids); err != nil {
		return err
	}
	if err := b.untilSteady(ctx, tag, ids); err != nil {
		return err
	}
	sc := &Scenario{Name: name, Title: fmt.Sprintf("Freshness at %.0f writes/s with %.0f reads/s: ack → readable", rate, b.o.FreshReads),
		Metric: "freshness", Baseline: baselineFresh, Target: 1, Goal: fmt.Sprintf("p99 < %d ms", freshTarget.Milliseconds())}
	var lags []float64
	var reads []Sample
	for r := 1; r <= b.o.Rounds; r++ {
		var s, rd Sample
		var lag int64
		b.profiled(name, r, func() {
			stopReads := b.readLoad(ctx, b.o.FreshReads, existing)
			s, lag = b.freshRound(ctx, tag, r, rate, group, ends)
			rd = stopReads()
		})
		lags = append(lags, float64(lag))
		reads = append(reads, rd)
		b.say("%s round %d: reads %s", name, r, describe(rd, "rate"))
		sc.Rounds = append(sc.Rounds, Round{r, "platform", s})
		b.say("%s round %d: %s; ingest lag %d", name, r, describe(s, "freshness"), lag)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	sc.finish()
	var sent []float64
	for _, r := range sc.Rounds {
		sent = append(sent, r.Sample.Rate)
	}
	var dropped []string
	for _, r := range sc.Rounds {
		if r.Sample.Note != "" {
			dropped = append(dropped, r.Sample.Note)
		}
	}
	rd := medianSample(reads)
	sc.Platform.Note = fmt.Sprintf("%.0f writes/s sent of %.0f, %d probes, ingest lag when the sending stopped %.0f events; "+
		"reads of existing items %.0f/s, p50 %s ms, p99 %s ms, %d errors (medians; errors summed)",
		median(sent), rate, sc.Platform.N, median(lags), rd.Rate, ms(rd.P50), ms(rd.P99), rd.Errors)
	if len(dropped) > 0 {
		sc.Platform.Note += "; " + dropped[len(dropped)-1] + " (last round)"
	}
	if sc.Platform.P99 > 0 {
		sc.Ratio = float64(freshTarget.Milliseconds()) / sc.Platform.P99
	}
	b.res.add(sc)
	return nil
}

// untilSteady waits for the steady state: the workers ids all hold
// partitions (the second one's join moves partitions away from the first),
// and a write goes through.
func (b *bench) untilSteady(ctx context.Context, tag string, ids []string) error {
	deadline := time.Now().Add(time.Minute)
	for _, id := range ids {
		for {
			if _, ok := b.hook.firstAssigned(id); ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("worker %s got no partitions within a minute", id)
			}
			if err := ctxSleep(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
	}
	for k := range 2 {
		warm := fmt.Sprintf("%s-%s-warm-%d", tag, b.run, k)
		if err := b.post(ctx, b.s.URL()+"/item/add", itemBody(warm), nil); err != nil {
			return err
		}
		if _, err := b.untilReadable(ctx, warm, time.Minute); err != nil {
			return fmt.Errorf("warm-up item never became readable: %w", err)
		}
	}
	return nil
}

func itemBody(id string) string {
	return `{"id":"` + id + `","name":"Fresh lamp","category":"CATEGORY_DECORATION","priceCents":1999,"state":"STATE_GOOD","ageMonths":1}`
}

// freshRound sends writes at rate for the run's duration and probes some.
// It returns the probes' freshness and the ingest lag of group (positioned
// at from) when the sending stopped.
func (b *bench) freshRound(ctx context.Context, tag string, round int, rate float64, group string, from Offsets) (Sample, int64) {
	interval := time.Duration(float64(time.Second) / rate)
	every := max(1, int(math.Round(rate/probesPerSec)))
	sem := make(chan struct{}, max(4*b.o.Concurrency, 256))
	probes := make(chan struct{}, probesInLine)
	var (
		wg                     sync.WaitGroup
		mu                     sync.Mutex
		lat                    []time.Duration
		kinds                  = map[string]int{}
		errs, sent, late, skip atomic.Int64
	)
	start := time.Now()
	end := start.Add(b.o.Duration)
	stopBy := start.Add(2 * b.o.Duration)
	planned := 0
	for i := 0; i < b.o.MaxRequests; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.After(end) {
			break
		}
		planned++
		if time.Now().After(stopBy) {
			late.Add(1) // the platform is so far behind that this write is dropped
			continue
		}
		if err := ctxSleep(ctx, time.Until(due)); err != nil {
			break
		}
		sem <- struct{}{}
		probe := false
		if i%every == 0 {
			select {
			case probes <- struct{}{}:
				probe = true
			default:
				skip.Add(1)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if probe {
				defer func() { <-probes }()
			}
			sentOK, d, err := b.freshWrite(ctx, fmt.Sprintf("%s-%s-r%d-%d", tag, b.run, round, i), probe)
			if sentOK {
				sent.Add(1)
			}
			if err != nil {
				errs.Add(1)
				what := "write " + errKind(err)
				if sentOK {
					what = "probe " + errKind(err)
				}
				mu.Lock()
				kinds[what]++
				mu.Unlock()
			}
			if sentOK && probe {
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	sendTime := time.Since(start)
	lag := b.ingestLag(ctx, group, from)
	wg.Wait()
	s := summarize(lat, int(errs.Load()), sendTime)
	s.Rate = float64(sent.Load()) / sendTime.Seconds()
	if len(kinds) > 0 {
		s.ErrorKinds = kinds
	}
	var notes []string
	if n := late.Load(); n > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d writes dropped, not sendable within twice the run", n, planned))
	}
	if n := skip.Load(); n > 0 {
		notes = append(notes, fmt.Sprintf("%d probes skipped, %d already polling", n, probesInLine))
	}
	s.Note = strings.Join(notes, "; ")
	return s, lag
}

// freshWrite sends the write of item id and, for a probe, polls until it
// is readable: whether the write was acknowledged, the probe's freshness
// (freshGiveUp when its polling gave up) and the error that failed either.
func (b *bench) freshWrite(ctx context.Context, id string, probe bool) (sent bool, d time.Duration, err error) {
	if err := b.post(ctx, b.s.URL()+"/item/add", itemBody(id), nil); err != nil {
		return false, 0, err
	}
	if !probe {
		return true, 0, nil
	}
	d, err = b.untilReadable(ctx, id, freshGiveUp)
	if err != nil {
		d = freshGiveUp
	}
	return true, d, err
}

// ingestLag is how many events written since from group has not committed
// (-1 when Kafka did not answer). Commits are read first: a commit made
// between the two reads can only make the lag look larger, never negative.
func (b *bench) ingestLag(ctx context.Context, group string, from Offsets) int64 {
	c, err := b.admin.committedSince(ctx, group, from)
	if err != nil {
		return -1
	}
	now, err := b.admin.ends()
	if err != nil {
		return -1
	}
	lag := -c
	for t, parts := range now {
		for p, o := range parts {
			lag += o - from[t][p]
		}
	}
	return lag
}

// untilReadable polls GET /item/fetch/{id} until it answers 200 and returns
// how long that took.
func (b *bench) untilReadable(ctx context.Context, id string, giveUp time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		err := b.get(ctx, b.s.URL()+"/item/fetch/"+id, http.StatusOK)
		if err == nil {
			return time.Since(start), nil
		}
		if time.Since(start) > giveUp {
			return 0, err
		}
		if err := ctxSleep(ctx, freshPoll); err != nil {
			return 0, err
		}
	}
}

// readLoad sends GET /item/fetch/{id} of random items of ids, open-loop at
// rate per second, until the returned stop is called; stop waits for the
// reads in flight and returns their sample.
func (b *bench) readLoad(ctx context.Context, rate float64, ids []string) (stop func() Sample) {
	if rate <= 0 || len(ids) == 0 {
		return func() Sample { return Sample{} }
	}
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		kind = map[string]int{}
	)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			if ctxSleep(ctx, time.Until(start.Add(time.Duration(i)*interval))) != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
				defer rcancel()
				t := time.Now()
				err := b.get(rctx, b.s.URL()+"/item/fetch/"+ids[rand.IntN(len(ids))], http.StatusOK)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs++
					kind[errKind(err)]++
					return
				}
				lat = append(lat, time.Since(t))
			}()
		}
	}()
	return func() Sample {
		elapsed := time.Since(start)
		cancel()
		<-done
		wg.Wait()
		s := summarize(lat, errs, elapsed)
		if len(kind) > 0 {
			s.ErrorKinds = kind
		}
		return s
	}
}
