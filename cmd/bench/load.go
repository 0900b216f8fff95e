package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"
)

// Sample is the outcome of one measured run.
type Sample struct {
	// Rate is operations (requests, events) per second.
	Rate float64 `json:"rate"`
	// P50 and P99 are latencies in milliseconds (zero when the run has none).
	P50 float64 `json:"p50Ms"`
	P99 float64 `json:"p99Ms"`
	// N is how many operations succeeded; Errors how many failed.
	N       int     `json:"n"`
	Errors  int     `json:"errors"`
	Seconds float64 `json:"seconds"`
	// ErrorKinds counts the failures by kind (HTTP status, Connect code).
	ErrorKinds map[string]int `json:"errorKinds,omitempty"`
	// StartupMs is the time before a run's work could start (ingest: from
	// starting the workers to their first partition assignment).
	StartupMs float64 `json:"startupMs,omitempty"`
	// BatchDocs is the mean documents per InsertMany of the workers (ingest).
	BatchDocs float64 `json:"batchDocs,omitempty"`
	// RebalanceMs is how long after the first worker the last one got
	// partitions (ingest with several workers).
	RebalanceMs float64 `json:"rebalanceMs,omitempty"`
	// AloneMs is the median latency of a few calls made one at a time
	// before the load (read path).
	AloneMs float64 `json:"aloneMs,omitempty"`
	// Uncommitted counts ingested events whose offsets the workers never
	// committed.
	Uncommitted int `json:"uncommitted,omitempty"`
	// Note carries what else the run observed (for example buffered writes).
	Note string `json:"note,omitempty"`
	// Clients is how many concurrent clients sent the load (overload).
	Clients int `json:"clients,omitempty"`
	// Refusals counts the requests refused by admission control (HTTP 503
	// or 429, overload); RefusalKinds splits them by status, RefusalP50
	// and RefusalP99 are their latencies in milliseconds, and
	// RefusalsWithRetryAfter counts those that carried Retry-After. N, P50
	// and P99 then describe the admitted (2xx) requests only.
	Refusals               int            `json:"refusals,omitempty"`
	RefusalKinds           map[string]int `json:"refusalKinds,omitempty"`
	RefusalP50             float64        `json:"refusalP50Ms,omitempty"`
	RefusalP99             float64        `json:"refusalP99Ms,omitempty"`
	RefusalsWithRetryAfter int            `json:"refusalsWithRetryAfter,omitempty"`
	// TransportErrors counts the calls that got no HTTP answer at all
	// (connection refused or reset, closed early); they are also in Errors.
	TransportErrors int `json:"transportErrors,omitempty"`
	// CPUUsPerOp is the CPU time (user and system, every thread) the bench
	// process spent during the run per completed call, in microseconds:
	// with the dev stack in the process it is what one call costs the
	// whole machine, steadier than the rate on shared cores.
	CPUUsPerOp float64 `json:"cpuUsPerOp,omitempty"`
}

// opTimeout bounds one call of a load generator.
const opTimeout = 15 * time.Second

// closedLoop runs op from conc goroutines, each starting its next call when
// the last one returned, until d elapsed or max calls were started or ctx
// ended: the load is bounded in time and in count. Calls in flight at the end
// finish (each is bounded by opTimeout) and count, so a slow system's rate is
// completed calls over the time until the last one returned. op gets the
// call's index.
func closedLoop(ctx context.Context, conc int, d time.Duration, max int, op func(ctx context.Context, i int) error) Sample {
	return closedLoopT(ctx, conc, d, max, opTimeout, op)
}

// closedLoopT is closedLoop with another bound on one call.
func closedLoopT(ctx context.Context, conc int, d time.Duration, max int, timeout time.Duration, op func(ctx context.Context, i int) error) Sample {
	return runClosedLoop(ctx, conc, d, max, timeout, op).sample()
}

// loopRun is what one closed-loop run measured before it is summarized, so
// that the slices of one side's run can be added up (readRound).
type loopRun struct {
	lat     []time.Duration
	kinds   map[string]int
	errs    int
	elapsed time.Duration
	cpu     time.Duration
}

// add adds o's calls, errors, time and CPU time to r.
func (r *loopRun) add(o loopRun) {
	r.lat = append(r.lat, o.lat...)
	for k, n := range o.kinds {
		if r.kinds == nil {
			r.kinds = map[string]int{}
		}
		r.kinds[k] += n
	}
	r.errs += o.errs
	r.elapsed += o.elapsed
	r.cpu += o.cpu
}

// sample summarizes r: rate, latencies, errors by kind, CPU per call.
func (r loopRun) sample() Sample {
	s := summarize(r.lat, r.errs, r.elapsed)
	if len(r.lat) > 0 {
		s.CPUUsPerOp = float64(r.cpu.Microseconds()) / float64(len(r.lat))
	}
	if len(r.kinds) > 0 {
		s.ErrorKinds = r.kinds
	}
	return s
}

// runClosedLoop is closedLoopT before its summary.
func runClosedLoop(ctx context.Context, conc int, d time.Duration, max int, timeout time.Duration, op func(ctx context.Context, i int) error) loopRun {
	var next atomic.Int64
	lat := make([][]time.Duration, conc)
	errs := make([]map[string]int, conc)
	var wg sync.WaitGroup
	cpu := processCPU()
	start := time.Now()
	deadline := start.Add(d)
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= max {
					return
				}
				t := time.Now()
				octx, cancel := context.WithTimeout(ctx, timeout)
				err := op(octx, i)
				cancel()
				if err != nil {
					if errs[g] == nil {
						errs[g] = map[string]int{}
					}
					errs[g][errKind(err)]++
					continue
				}
				lat[g] = append(lat[g], time.Since(t))
			}
		}()
	}
	wg.Wait()
	r := loopRun{elapsed: time.Since(start), cpu: processCPU() - cpu}
	for g := range conc {
		r.lat = append(r.lat, lat[g]...)
		for k, n := range errs[g] {
			if r.kinds == nil {
				r.kinds = map[string]int{}
			}
			r.kinds[k] += n
			r.errs += n
		}
	}
	return r
}

// processCPU is the CPU time the process has used, user and system, of
// every thread (Go's, cgo's and librdkafka's).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// errKind classifies a failed call for the report: the HTTP status or the
// Connect code, else the start of the message.
func errKind(err error) string {
	if code := connect.CodeOf(err); code != connect.CodeUnknown {
		return "connect " + code.String()
	}
	msg := err.Error()
	if i := strings.Index(msg, "status "); i >= 0 {
		return msg[i:min(len(msg), i+10)]
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return msg[:min(len(msg), 60)]
}

// describeErrors lists the commonest error kinds, most frequent first.
func describeErrors(kinds map[string]int) string {
	if len(kinds) == 0 {
		return ""
	}
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return kinds[b] - kinds[a] })
	var parts []string
	for _, k := range keys[:min(3, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, kinds[k]))
	}
	return strings.Join(parts, ", ")
}

func summarize(lat []time.Duration, errs int, elapsed time.Duration) Sample {
	s := Sample{N: len(lat), Errors: errs, Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		s.Rate = float64(len(lat)) / elapsed.Seconds()
	}
	s.P50, s.P99 = percentileMs(lat, 0.50), percentileMs(lat, 0.99)
	return s
}

// percentileMs returns the q-quantile of lat in milliseconds (nearest rank).
func percentileMs(lat []time.Duration, q float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	k := int(math.Ceil(q*float64(len(s)))) - 1
	k = min(max(k, 0), len(s)-1)
	return float64(s[k].Microseconds()) / 1000
}

// median returns the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianSample is the per-field median of samples; counts are summed.
func medianSample(samples []Sample) Sample {
	var rate, p50, p99, up, batch, reb, alone, clients, rp50, rp99 []float64
	var out Sample
	for _, s := range samples {
		addCounts(&out.ErrorKinds, s.ErrorKinds)
		addCounts(&out.RefusalKinds, s.RefusalKinds)
		clients, rp50, rp99 = append(clients, float64(s.Clients)), append(rp50, s.RefusalP50), append(rp99, s.RefusalP99)
		out.Refusals += s.Refusals
		out.RefusalsWithRetryAfter += s.RefusalsWithRetryAfter
		out.TransportErrors += s.TransportErrors
		rate, p50, p99, up = append(rate, s.Rate), append(p50, s.P50), append(p99, s.P99), append(up, s.StartupMs)
		batch, reb, alone = append(batch, s.BatchDocs), append(reb, s.RebalanceMs), append(alone, s.AloneMs)
		out.N += s.N
		out.Errors += s.Errors
		out.Uncommitted += s.Uncommitted
		out.Seconds += s.Seconds
	}
	out.Rate, out.P50, out.P99, out.StartupMs = median(rate), median(p50), median(p99), median(up)
	out.BatchDocs, out.RebalanceMs, out.AloneMs = median(batch), median(reb), median(alone)
	out.Clients, out.RefusalP50, out.RefusalP99 = int(median(clients)), median(rp50), median(rp99)
	// Notes stay with their rounds; a scenario writes its own summary note.
	return out
}

// count adds n to key in *m, making the map on first use: a Sample that
// counted nothing keeps a nil map, which its JSON leaves out.
func count(m *map[string]int, key string, n int) {
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[key] += n
}

// addCounts adds every count of src to *dst and returns their sum.
func addCounts(dst *map[string]int, src map[string]int) int {
	sum := 0
	for k, n := range src {
		count(dst, k, n)
		sum += n
	}
	return sum
}
