package embedded

import (
	"testing"
	"time"
)

// TestRedisAgingWaitIsBounded: after a slow move the wait grows with it,
// but no further than agingMaxTick: a move takes the whole wait off every
// TTL, also off one set just after the last move, so an unbounded wait (6 s
// after a 300 ms move, which 300,000 keys cost) could expire a worker's
// registration (TTL 6 s, refreshed every 2 s) between two heartbeats.
func TestRedisAgingWaitIsBounded(t *testing.T) {
	for _, c := range []struct{ took, want time.Duration }{
		{0, agingMinTick},
		{time.Millisecond, 20 * time.Millisecond},
		{40 * time.Millisecond, 800 * time.Millisecond},
		{300 * time.Millisecond, time.Second},
		{time.Minute, time.Second},
	} {
		if got := agingWait(c.took); got != c.want {
			t.Errorf("wait after a move of %v = %v, want %v", c.took, got, c.want)
		}
	}
}

// TestRedisAgingStepCountsNoStarvation: a move that comes when planned takes
// the time since the last one off the TTLs; one that comes late (its
// goroutine starved) takes no more than the plan and one tick, so a TTL
// refreshed just before it is not cut short by the delay.
func TestRedisAgingStepCountsNoStarvation(t *testing.T) {
	for _, c := range []struct{ elapsed, planned, want time.Duration }{
		{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		{15 * time.Millisecond, 10 * time.Millisecond, 15 * time.Millisecond},
		{500 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond},
		{time.Second, time.Second, time.Second},
		{5 * time.Second, time.Second, time.Second + agingMinTick},
	} {
		if got := agingStep(c.elapsed, c.planned); got != c.want {
			t.Errorf("step after %v with %v planned = %v, want %v", c.elapsed, c.planned, got, c.want)
		}
	}
}
