package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The overload scenario's method and targets (issue 10, part 4).
const (
	// overloadItems is the size of its database: small and without
	// history, so that a read costs the platform's hops rather than the
	// dev stack database's full scans.
	overloadItems = 50
	// overloadFactor times the saturating concurrency is the overload.
	overloadFactor = 100
	// overloadGrowth: the saturating concurrency is the smallest after
	// which no step's goodput exceeds its own by more than 10 %.
	overloadGrowth = 1.10
	// The targets: goodput at least 0.8 of the peak's, admitted p99 at
	// most 3 times the peak's, refusals answered within 50 ms (p99).
	overloadGoodputTarget = 0.8
	overloadP99Target     = 3.0
	overloadRefusalMs     = 50.0
	// overloadOpTimeout bounds one request: a request neither answered nor
	// refused by then counts as a timeout (an error, not a refusal).
	overloadOpTimeout = 15 * time.Second
	// A refused client waits for Retry-After (overloadPause when absent),
	// jittered ×0.5–1.5 and at most overloadMaxPause, before its next
	// request; after an error, overloadErrorPause.
	overloadPause      = time.Second
	overloadMinPause   = 100 * time.Millisecond
	overloadMaxPause   = 5 * time.Second
	overloadErrorPause = 100 * time.Millisecond
)

// overloadSteps are the concurrencies of the saturation search.
var overloadSteps = []int{1, 2, 4, 8, 16, 32, 64}

const baselinePeak = "peak"

// Overload is the overload scenario's saturation search and summary in the
// JSON results; its rows (overload.goodput, overload.p99, overload.refusal)
// are with the other scenarios.
type Overload struct {
	Items       int     `json:"items"`
	Workers     int     `json:"workers"`
	StepSeconds float64 `json:"stepSeconds"`
	RunSeconds  float64 `json:"runSeconds"`
	// Steps are the saturation search's runs, in order.
	Steps []OverloadStep `json:"steps"`
	// Saturating is the saturating concurrency the search found.
	Saturating int `json:"saturatingConcurrency"`
	// ClientsWanted is overloadFactor × Saturating; Clients is that,
	// capped by -overload-clients.
	ClientsWanted int `json:"clientsWanted"`
	Clients       int `json:"clients"`
	// Clients' behaviour on a refusal.
	OnRefusal string `json:"onRefusal"`
	// Targets are the three targets with the medians of the rounds.
	Targets []OverloadTarget `json:"targets"`
}

// OverloadStep is one run of the saturation search.
type OverloadStep struct {
	Concurrency int    `json:"concurrency"`
	Sample      Sample `json:"sample"`
}

// OverloadTarget is one of the scenario's targets and whether it was met.
type OverloadTarget struct {
	Name  string  `json:"name"`
	Goal  string  `json:"goal"`
	Value float64 `json:"value"`
	Met   bool    `json:"met"`
}

// scenarioOverload measures what admission control keeps of the read path
// at 100× its saturating concurrency: on a small database served by two
// workers, a search steps the number of closed-loop clients of GET
// /item/fetch/{id} (1, 2, 4, … 64) to find the saturating concurrency; then
// rounds alternate a run at that concurrency (the peak, the baseline) and a
// run at 100× it (capped), comparing goodput (2xx/s) and the admitted p99,
// and timing the refusals (503, 429).
func (b *bench) scenarioOverload(ctx context.Context) error {
	db, items, err := b.loadItems(ctx, "overload", min(overloadItems, b.o.Items), false, 1)
	if err != nil {
		return err
	}
	n := len(items)
	ids := []string{"overload-" + b.run + "-1", "overload-" + b.run + "-2"}
	workers, err := b.startWorkersAtEnd(ctx, ids, "overload", db)
	if err != nil {
		return err
	}
	defer b.stopWorkers(workers)
	if _, err := b.workerAddresses(ctx, ids); err != nil {
		return err
	}
	client := newOverloadClient(b.o.OverloadClients)
	client.Transport = withKey(client.Transport, b.s.APIKey())
	defer client.CloseIdleConnections()
	url := func(off int) func(int) string {
		return func(i int) string { return b.s.URL() + "/item/fetch/" + items[(i*7919+off)%len(items)] }
	}
	if err := overloadWarmUp(ctx, client, url(0)); err != nil {
		return err
	}

	ov, err := b.overloadSearch(ctx, client, url, n, len(workers))
	if err != nil {
		return err
	}
	b.res.Baselines[baselinePeak] = "the same GETs from as many closed-loop clients as the saturating concurrency " +
		"the search found (the smallest after which goodput grows by at most 10 %), in rounds alternating with the overload runs."
	label := fmt.Sprintf("%d items, %d× the saturating concurrency", n, overloadFactor)
	goodput := &Scenario{Name: "overload.goodput", Title: "Overload GET /item/fetch/{id}, " + label + ": goodput (2xx/s)", Metric: "rate",
		Baseline: baselinePeak, Target: overloadGoodputTarget, Goal: "≥ 0.8× the peak"}
	latency := &Scenario{Name: "overload.p99", Title: "Overload GET /item/fetch/{id}, " + label + ": admitted (2xx) p99", Metric: "p99",
		Baseline: baselinePeak, Target: overloadP99Target, AtMost: true, Goal: "≤ 3× the peak's p99 (ratio p99 / peak p99)"}
	refusal := &Scenario{Name: "overload.refusal", Title: "Overload GET /item/fetch/{id}, " + label + ": refusals (503, 429)", Metric: "refusal",
		Baseline: "target", Target: 1, Goal: "p99 ≤ 50 ms (ratio 50 ms / p99)"}
	for r := 1; r <= b.o.Rounds; r++ {
		p, q, err := b.overloadRound(ctx, client, url, n, r, ov)
		if err != nil {
			return err
		}
		for _, s := range []*Scenario{goodput, latency, refusal} {
			s.Rounds = append(s.Rounds, Round{r, "baseline", q}, Round{r, "platform", p})
		}
		b.say("overload round %d: peak (%d clients) %.0f/s, p99 %.1f ms; %d clients %.0f/s, p99 %.1f ms, %d refused (p99 %.1f ms), %d errors (%s)",
			r, q.Clients, q.Rate, q.P99, p.Clients, p.Rate, p.P99, p.Refusals, p.RefusalP99, p.Errors, describeErrors(p.ErrorKinds))
	}
	finishOverload(goodput, latency, refusal)
	for _, s := range []*Scenario{goodput, latency, refusal} {
		b.res.add(s) // gives each row its verdict
	}
	ov.Targets = []OverloadTarget{
		{Name: "goodput / peak goodput", Goal: "≥ 0.8", Value: goodput.Ratio, Met: *goodput.Met},
		{Name: "admitted p99 / peak p99", Goal: "≤ 3", Value: latency.Ratio, Met: *latency.Met},
		{Name: "refusal p99 (ms)", Goal: "≤ 50", Value: refusal.Platform.RefusalP99, Met: *refusal.Met},
	}
	b.res.Overload = ov
	return nil
}

// overloadSearch steps the number of closed-loop clients of url (1, 2, 4,
// … 64, each from a random offset into the n items) until goodput stops
// growing, and returns the search with the saturating concurrency and the
// overload's number of clients.
func (b *bench) overloadSearch(ctx context.Context, client *http.Client, url func(off int) func(int) string, n, workers int) (*Overload, error) {
	ov := &Overload{Items: n, Workers: workers, StepSeconds: b.o.OverloadStep.Seconds(), RunSeconds: b.o.OverloadRun.Seconds(),
		OnRefusal: fmt.Sprintf("waits for Retry-After (%s when absent; at least %s, at most %s, jittered ×0.5–1.5) before its next request; after an error, %s",
			overloadPause, overloadMinPause, overloadMaxPause, overloadErrorPause)}
	best := 0.0
	flat := 0
	for _, c := range overloadSteps {
		s := overloadLoop(ctx, client, c, b.o.OverloadStep, url(rand.IntN(n)))
		ov.Steps = append(ov.Steps, OverloadStep{Concurrency: c, Sample: s})
		b.say("overload: search, %d clients: %.0f/s, p99 %.1f ms, %d refused, %d errors", c, s.Rate, s.P99, s.Refusals, s.Errors)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.Rate > overloadGrowth*best {
			best, flat = s.Rate, 0
		} else if flat++; flat >= 2 {
			break
		}
	}
	ov.Saturating = saturating(ov.Steps)
	ov.ClientsWanted = overloadFactor * ov.Saturating
	ov.Clients = min(ov.ClientsWanted, b.o.OverloadClients)
	b.say("overload: saturating concurrency %d; overload runs with %d clients", ov.Saturating, ov.Clients)
	return ov, nil
}

// overloadRound runs round r: a run at the saturating concurrency (the
// baseline, q) and one with the overload's clients (the platform, p), in an
// order that alternates by round.
func (b *bench) overloadRound(ctx context.Context, client *http.Client, url func(off int) func(int) string, n, r int, ov *Overload) (p, q Sample, err error) {
	got := map[string]Sample{}
	order := []string{"baseline", "platform"}
	if r%2 == 0 {
		order = []string{"platform", "baseline"}
	}
	for _, side := range order {
		clients, d := ov.Saturating, b.o.OverloadStep
		if side == "platform" {
			clients, d = ov.Clients, b.o.OverloadRun
		}
		b.profiled("overload-"+side, r, func() {
			got[side] = overloadLoop(ctx, client, clients, d, url(rand.IntN(n)))
		})
		// Start the next run without the last one's idle connections.
		client.CloseIdleConnections()
		if err := ctx.Err(); err != nil {
			return Sample{}, Sample{}, err
		}
	}
	return got["platform"], got["baseline"], nil
}

// finishOverload computes the three rows' medians and ratios: goodput over
// the peak's, the admitted p99 over the peak's (not met when nothing was
// admitted or there was no peak), and 50 ms over the refusals' p99 (not met
// when nothing was refused: no load was shed).
func finishOverload(goodput, latency, refusal *Scenario) {
	goodput.finish()
	latency.finish()
	refusal.finish()
	latency.Ratio = 0
	if latency.BaselineResult.P99 > 0 && latency.Platform.N > 0 {
		latency.Ratio = latency.Platform.P99 / latency.BaselineResult.P99
	} else {
		latency.Met = new(false) // nothing admitted, or no peak: not met
	}
	refusal.Ratio = 0
	if refusal.Platform.Refusals > 0 && refusal.Platform.RefusalP99 > 0 {
		refusal.Ratio = overloadRefusalMs / refusal.Platform.RefusalP99
	} else {
		refusal.Met = new(false) // nothing was refused: no load was shed
		refusal.Platform.Note = "nothing was refused"
	}
}

// saturating returns the smallest concurrency of steps after which no step's
// goodput exceeds its own by more than overloadGrowth (the last step's when
// goodput grew to the end).
func saturating(steps []OverloadStep) int {
	for k, s := range steps {
		grew := false
		for _, later := range steps[k+1:] {
			if later.Sample.Rate > overloadGrowth*s.Sample.Rate {
				grew = true
				break
			}
		}
		if !grew {
			return s.Concurrency
		}
	}
	return steps[len(steps)-1].Concurrency
}

// newOverloadClient is the overload's HTTP client: a keep-alive connection
// for each of up to clients concurrent clients, a bound on connecting and on
// waiting for an answer's headers.
func newOverloadClient(clients int) *http.Client {
	conns := max(clients, overloadSteps[len(overloadSteps)-1]) + 16
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: overloadOpTimeout,
		DisableCompression:    true,
	}}
}

// overloadWarmUp reads until the platform answers 200 (at most 30 s): the
// workers joined, the connections are open.
func overloadWarmUp(ctx context.Context, c *http.Client, url func(int) string) error {
	deadline := time.Now().Add(30 * time.Second)
	ok := 0
	for i := 0; ok < 4; i++ {
		octx, cancel := context.WithTimeout(ctx, overloadOpTimeout)
		status, _, err := overloadGet(octx, c, url(i))
		cancel()
		if err == nil && status == http.StatusOK {
			ok++
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("reads fail before any load: status %d, %v", status, err)
		}
		if err := ctxSleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// healthzOf is the /healthz URL of the server of u: a request that opens a
// connection without touching the route under test.
func healthzOf(u string) string {
	p, err := neturl.Parse(u)
	if err != nil {
		return u
	}
	return p.Scheme + "://" + p.Host + "/healthz"
}

// overloadGet sends a GET and reads the whole answer: its status and
// Retry-After header, or the error when there was no answer.
func overloadGet(ctx context.Context, c *http.Client, url string) (status int, retryAfter string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		return 0, "", err
	}
	return res.StatusCode, res.Header.Get("Retry-After"), nil
}

// refusalPause is how long a refused client waits before its next request.
func refusalPause(retryAfter string) time.Duration {
	pause := overloadPause
	if secs, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && secs >= 0 {
		pause = time.Duration(secs) * time.Second
	}
	pause = min(max(pause, overloadMinPause), overloadMaxPause)
	return time.Duration(float64(pause) * (0.5 + rand.Float64()))
}

// overloadLoop runs clients closed-loop clients of GET url(i) for d; each
// opens its connection first (GET /healthz), then all start together and
// each sends its next request when the last one was answered, or, when it was
// refused (503, 429), after refusalPause. Goodput (Rate) is the 2xx answers
// received within d, per second; N, P50 and P99 are the 2xx answers'
// (including those of requests still in flight at d, which finish and
// count); refusals and other errors (other statuses, timeouts, no answer)
// are counted apart.
func overloadLoop(ctx context.Context, c *http.Client, clients int, d time.Duration, url func(int) string) Sample {
	run := &overloadRun{ctx: ctx, c: c, url: url, healthz: healthzOf(url(0)), gate: make(chan struct{}), ready: make(chan struct{})}
	ts := make([]overloadTally, clients)
	var wg sync.WaitGroup
	for g := range clients {
		wg.Add(1)
		run.connected.Add(1)
		go func() {
			defer wg.Done()
			run.client(&ts[g])
		}()
	}
	close(run.gate)
	run.connected.Wait()
	start := time.Now()
	run.deadline = start.Add(d)
	close(run.ready)
	wg.Wait()
	return summarizeOverload(ts, clients, time.Since(start), d)
}

// overloadRun is what the clients of one overloadLoop share.
type overloadRun struct {
	ctx     context.Context
	c       *http.Client
	url     func(int) string
	healthz string
	next    atomic.Int64 // the next request's index
	// gate starts the clients' connections; connected counts them open;
	// ready starts the run, deadline (set before ready closes) ends it.
	gate, ready chan struct{}
	connected   sync.WaitGroup
	deadline    time.Time
}

// client is one closed-loop client: it opens its connection, waits for
// the start, and sends requests until the deadline, pausing after a
// refusal or an error.
func (r *overloadRun) client(t *overloadTally) {
	// Open this client's connection before the run (all at once, so that
	// each gets its own): the run measures admission control, not a storm
	// of TCP handshakes in the accept queue.
	<-r.gate
	octx, cancel := context.WithTimeout(r.ctx, overloadOpTimeout)
	_, _, _ = overloadGet(octx, r.c, r.healthz)
	cancel()
	r.connected.Done()
	<-r.ready
	for r.ctx.Err() == nil && time.Now().Before(r.deadline) {
		i := int(r.next.Add(1) - 1)
		t0 := time.Now()
		octx, cancel := context.WithTimeout(r.ctx, overloadOpTimeout)
		status, retryAfter, err := overloadGet(octx, r.c, r.url(i))
		cancel()
		done := time.Now()
		pause := t.record(status, retryAfter, err, done.Sub(t0), !done.After(r.deadline))
		if pause > 0 {
			if left := time.Until(r.deadline); left < pause {
				pause = left
			}
			if pause > 0 && ctxSleep(r.ctx, pause) != nil {
				return
			}
		}
	}
}

// overloadTally is one client's count of its answers.
type overloadTally struct {
	ok, refused []time.Duration
	inWindow    int
	retryAfter  int
	transport   int
	refusals    map[string]int
	errs        map[string]int
}

// record counts one request that took took (answered within the run when
// inWindow) and returns how long the client pauses before its next one.
func (t *overloadTally) record(status int, retryAfter string, err error, took time.Duration, inWindow bool) (pause time.Duration) {
	switch {
	case err != nil:
		if errors.Is(err, context.DeadlineExceeded) {
			count(&t.errs, "timeout", 1)
		} else {
			count(&t.errs, "no answer: "+errKind(err), 1)
			t.transport++
		}
		return overloadErrorPause
	case status >= 200 && status < 300:
		t.ok = append(t.ok, took)
		if inWindow {
			t.inWindow++
		}
		return 0
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		t.refused = append(t.refused, took)
		count(&t.refusals, strconv.Itoa(status), 1)
		if retryAfter != "" {
			t.retryAfter++
		}
		return refusalPause(retryAfter)
	default:
		count(&t.errs, "status "+strconv.Itoa(status), 1)
		return overloadErrorPause
	}
}

// summarizeOverload merges the clients' tallies of a run of d that took
// elapsed into its sample.
func summarizeOverload(ts []overloadTally, clients int, elapsed, d time.Duration) Sample {
	var ok, refused []time.Duration
	s := Sample{Clients: clients, Seconds: elapsed.Seconds()}
	for _, t := range ts {
		ok, refused = append(ok, t.ok...), append(refused, t.refused...)
		s.RefusalsWithRetryAfter += t.retryAfter
		s.TransportErrors += t.transport
		s.Rate += float64(t.inWindow)
		addCounts(&s.RefusalKinds, t.refusals)
		s.Errors += addCounts(&s.ErrorKinds, t.errs)
	}
	s.Rate /= d.Seconds()
	s.N, s.Refusals = len(ok), len(refused)
	s.P50, s.P99 = percentileMs(ok, 0.50), percentileMs(ok, 0.99)
	s.RefusalP50, s.RefusalP99 = percentileMs(refused, 0.50), percentileMs(refused, 0.99)
	return s
}

// printOverload writes the overload scenario's search and targets.
func printOverload(w io.Writer, ov *Overload) {
	var steps []string
	for _, s := range ov.Steps {
		step := fmt.Sprintf("%d → %s/s (p99 %s ms", s.Concurrency, rate(s.Sample.Rate), ms(s.Sample.P99))
		if s.Sample.Refusals > 0 {
			step += fmt.Sprintf(", %d refused", s.Sample.Refusals)
		}
		if s.Sample.Errors > 0 {
			step += fmt.Sprintf(", %d errors", s.Sample.Errors)
		}
		steps = append(steps, step+")")
	}
	fmt.Fprintf(w, "Overload: %d items, %d workers; saturation search, %.1fs per step, clients → goodput: %s. "+
		"Saturating concurrency %d; overload runs of %.1fs with %d clients (%d× = %d wanted). A refused client %s.\n\n",
		ov.Items, ov.Workers, ov.StepSeconds, strings.Join(steps, ", "), ov.Saturating, ov.RunSeconds, ov.Clients,
		overloadFactor, ov.ClientsWanted, ov.OnRefusal)
	fmt.Fprintln(w, "| overload target | goal | measured (median of rounds) | met |")
	fmt.Fprintln(w, "| --- | --- | ---: | --- |")
	for _, t := range ov.Targets {
		fmt.Fprintf(w, "| %s | %s | %.2f | %s |\n", t.Name, t.Goal, t.Value, map[bool]string{true: "yes", false: "**no**"}[t.Met])
	}
	fmt.Fprintln(w)
}
