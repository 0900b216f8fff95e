package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSlicesAddUpToOneSample: the slices of one side's read run are one
// sample: its calls over its own time (not the round's), its errors by
// kind, its CPU time over its calls.
func TestSlicesAddUpToOneSample(t *testing.T) {
	var r loopRun
	r.add(loopRun{lat: []time.Duration{time.Millisecond, 3 * time.Millisecond}, elapsed: time.Second, cpu: 4 * time.Millisecond})
	r.add(loopRun{lat: []time.Duration{2 * time.Millisecond}, kinds: map[string]int{"503": 2}, errs: 2, elapsed: time.Second, cpu: 2 * time.Millisecond})
	s := r.sample()
	if s.N != 3 || s.Errors != 2 || s.ErrorKinds["503"] != 2 {
		t.Fatalf("N %d, errors %d %v; want 3 calls and 2 errors (503)", s.N, s.Errors, s.ErrorKinds)
	}
	if s.Rate != 1.5 || s.Seconds != 2 {
		t.Errorf("rate %v over %v s; want 1.5/s over 2 s (3 calls in the slices' 2 s)", s.Rate, s.Seconds)
	}
	if s.P50 != 2 || s.CPUUsPerOp != 2000 {
		t.Errorf("p50 %v ms, CPU %v µs/call; want 2 ms and 2000 µs", s.P50, s.CPUUsPerOp)
	}
}

// TestClosedLoopCountsErrorsByKind: a failed call is counted by kind, not
// as a latency.
func TestClosedLoopCountsErrorsByKind(t *testing.T) {
	r := runClosedLoop(context.Background(), 2, time.Minute, 10, time.Second, func(_ context.Context, i int) error {
		if i%2 == 1 {
			return errors.New("boom")
		}
		return nil
	})
	if len(r.lat) != 5 || r.errs != 5 || len(r.kinds) != 1 {
		t.Fatalf("%d calls, %d errors %v; want 5 and 5 of one kind", len(r.lat), r.errs, r.kinds)
	}
}
