package kafka_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/services/worker/app"
)

// assignLog is a slog handler that notes when partitions were assigned
// (cooperative rebalancing may first assign none).
type assignLog struct {
	mu       sync.Mutex
	assigned []time.Time
}

func (h *assignLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *assignLog) Handle(_ context.Context, r slog.Record) error {
	nonEmpty := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "count" && a.Value.Int64() > 0 {
			nonEmpty = true
		}
		return true
	})
	if r.Message == "partitions assigned" && nonEmpty {
		h.mu.Lock()
		h.assigned = append(h.assigned, r.Time)
		h.mu.Unlock()
	}
	return nil
}
func (h *assignLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *assignLog) WithGroup(string) slog.Handler      { return h }

func (h *assignLog) first() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.assigned) == 0 {
		return time.Time{}, false
	}
	return h.assigned[0], true
}

// stamps is a Storer whose writes note when each record was stored.
type stamps struct {
	*recorder
	mu    sync.Mutex
	at    []time.Time
	parts []int32
}

func newStamps() *stamps {
	s := &stamps{recorder: newRecorder()}
	s.write = func(_ context.Context, b app.Batch) error {
		now := time.Now()
		s.mu.Lock()
		for _, r := range b {
			s.at = append(s.at, now)
			s.parts = append(s.parts, r.Partition)
		}
		s.mu.Unlock()
		return nil
	}
	return s
}

// between counts the records stored in [from, to] and the longest pause
// between two writes there.
func (s *stamps) between(from, to time.Time) (n int, gap time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := from
	for _, t := range s.at {
		if t.Before(from) || t.After(to) {
			continue
		}
		n++
		gap = max(gap, t.Sub(last))
		last = t
	}
	return n, max(gap, to.Sub(last))
}

// TestSecondWorkerJoinsWithoutStall measures a second member joining while
// the first consumes a steady stream: the time from its subscription to its
// first assignment and to its first stored record, and how much the first
// member stored meanwhile, and the longest time a partition went without a
// stored record around the join.
func TestSecondWorkerJoinsWithoutStall(t *testing.T) {
	brokers := startKafka(t)
	const topic, group = "items", "g"
	ensureTopic(t, brokers, topic)

	p, err := kafkapub.New(kafkapub.Config{Brokers: brokers}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var produced sync.WaitGroup
	produced.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			_ = p.Publish(ctx, kafkapub.Message{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))})
			time.Sleep(2 * time.Millisecond)
		}
	})
	defer produced.Wait()
	defer cancel()

	first := newStamps()
	runConsumer(t, brokers, group, topic, first, nil)
	waitFor(t, 30*time.Second, func() bool { return first.distinct() > 50 }, "the first member to consume")
	time.Sleep(time.Second)

	second := newStamps()
	assigned := &assignLog{}
	joined := time.Now()
	runConsumerLog(t, brokers, group, topic, second, nil, slog.New(assigned))
	waitFor(t, 30*time.Second, func() bool { _, ok := assigned.first(); return ok }, "the second member's first assignment")
	waitFor(t, 30*time.Second, func() bool { return second.distinct() > 0 }, "the second member's first record")
	at, _ := assigned.first()
	second.mu.Lock()
	firstRecord := second.at[0]
	second.mu.Unlock()
	n, gap := first.between(joined, at)
	t.Logf("second member: assigned %v after subscribing, first record stored after %v; first member stored %d records meanwhile, longest pause between its writes %v",
		at.Sub(joined).Round(time.Millisecond), firstRecord.Sub(joined).Round(time.Millisecond), n, gap.Round(time.Millisecond))
	pgap := partitionGap(joined, firstRecord.Add(500*time.Millisecond), first, second)
	t.Logf("longest time a partition went without a stored record from either member around the join: %v", pgap.Round(time.Millisecond))
	if d := at.Sub(joined); d > time.Second {
		t.Errorf("the second member waited %v for its first assignment", d)
	}
	if pgap > 750*time.Millisecond {
		t.Errorf("a partition went %v without a stored record while the second member joined", pgap)
	}
	if n == 0 {
		t.Errorf("the first member stored nothing while the second joined")
	}
}

// partitionGap is the longest time, within [from, to], that one partition
// went without a record stored by any of ss.
func partitionGap(from, to time.Time, ss ...*stamps) time.Duration {
	last := map[int32]time.Time{}
	var all []struct {
		at time.Time
		p  int32
	}
	for _, s := range ss {
		s.mu.Lock()
		for i, t := range s.at {
			all = append(all, struct {
				at time.Time
				p  int32
			}{t, s.parts[i]})
		}
		s.mu.Unlock()
	}
	slices.SortFunc(all, func(a, b struct {
		at time.Time
		p  int32
	}) int {
		return a.at.Compare(b.at)
	})
	var gap time.Duration
	for _, r := range all {
		if r.at.Before(from) || r.at.After(to) {
			continue
		}
		l, ok := last[r.p]
		if !ok {
			l = from
		}
		gap = max(gap, r.at.Sub(l))
		last[r.p] = r.at
	}
	return gap
}
