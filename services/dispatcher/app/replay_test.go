package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func newTestReplayer(buf *fakeBuffer, b *fakeBroker) *Replayer {
	return NewReplayer(buf, b, time.Second, 500*time.Millisecond, discardLog())
}

func TestReplayPublishesInArrivalOrderAndEmptiesTheBuffer(t *testing.T) {
	buf := &fakeBuffer{}
	var want []string
	// More than one batch of 100, over two items interleaved.
	for i := range 250 {
		id := fmt.Sprintf("e%03d", i)
		buf.fill(t, fmt.Sprintf("item-%d", i%2), id)
		want = append(want, id)
	}
	b := &fakeBroker{}
	b.before = func(m Message) {
		// Removed only after the broker acknowledged it.
		if !buf.holds(m.ID) {
			t.Errorf("%s was removed from the buffer before the broker took it", m.ID)
		}
	}
	n, err := newTestReplayer(buf, b).ReplayOnce(context.Background())
	if err != nil || n != 250 {
		t.Fatalf("replayed %d, %v; want 250", n, err)
	}
	if got := b.ids(); !slices.Equal(got, want) {
		t.Fatalf("broker order differs from arrival order:\n got %v\nwant %v", got, want)
	}
	if len(buf.ids()) != 0 {
		t.Fatalf("buffer still holds %v", buf.ids())
	}
	for i, d := range b.deadlines {
		if !d {
			t.Fatalf("replay publish %d has no deadline", i)
		}
	}
	// The lease outlives a replay interval plus one publish.
	if ttl := buf.leaseTTLs[0]; ttl != 3*time.Second+500*time.Millisecond {
		t.Fatalf("lease ttl %v, want 3 intervals + the publish timeout", ttl)
	}
}

func TestReplayStopsAtTheFirstRefusalSoNothingOvertakes(t *testing.T) {
	buf := &fakeBuffer{}
	buf.fill(t, "item-1", "e1", "e2", "e3")
	b := &fakeBroker{fail: func(m Message) error {
		if m.ID == "e2" {
			return errors.New("broker down")
		}
		return nil
	}}
	n, err := newTestReplayer(buf, b).ReplayOnce(context.Background())
	if err == nil || n != 1 {
		t.Fatalf("replayed %d, %v; want 1 and an error", n, err)
	}
	if got := b.ids(); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("broker got %v, want [e1]: e3 must not overtake e2", got)
	}
	if got := buf.ids(); !slices.Equal(got, []string{"e2", "e3"}) {
		t.Fatalf("buffer holds %v, want [e2 e3]", got)
	}
}

func TestReplayKeepsAnEventTheBrokerDidNotAcknowledgeInTime(t *testing.T) {
	buf := &fakeBuffer{}
	buf.fill(t, "item-1", "e1")
	r := NewReplayer(buf, &fakeBroker{hang: true}, time.Second, 5*time.Millisecond, discardLog())
	n, err := r.ReplayOnce(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || n != 0 {
		t.Fatalf("replayed %d, %v; want 0 and the publish timeout", n, err)
	}
	if got := buf.ids(); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("buffer holds %v, want [e1]", got)
	}
}

func TestReplayReportsAPublishedEventItCouldNotRemove(t *testing.T) {
	buf := &fakeBuffer{}
	buf.fill(t, "item-1", "e1", "e2")
	buf.removeErr = errors.New("redis down")
	b := &fakeBroker{}
	n, err := newTestReplayer(buf, b).ReplayOnce(context.Background())
	if !errors.Is(err, buf.removeErr) || n != 0 {
		t.Fatalf("replayed %d, %v; want 0 and the remove error", n, err)
	}
	// e1 stays buffered (it will be published again: workers are idempotent),
	// and e2 is not published ahead of that.
	if got := b.ids(); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("broker got %v, want [e1]", got)
	}
	if got := buf.ids(); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("buffer holds %v", got)
	}
}

func TestReplayOnlyWithTheLease(t *testing.T) {
	buf := &fakeBuffer{leases: []bool{false}}
	buf.fill(t, "item-1", "e1")
	b := &fakeBroker{}
	n, err := newTestReplayer(buf, b).ReplayOnce(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("replayed %d, %v; want 0 without error: another dispatcher replays", n, err)
	}
	if b.callCount() != 0 || len(buf.ids()) != 1 {
		t.Fatalf("without the lease: %d publishes, buffer %v", b.callCount(), buf.ids())
	}

	buf.leaseErr = errors.New("redis down")
	if _, err := newTestReplayer(buf, b).ReplayOnce(context.Background()); !errors.Is(err, buf.leaseErr) {
		t.Fatalf("err %v, want the lease error", err)
	}
	if b.callCount() != 0 {
		t.Fatalf("%d publishes without the lease", b.callCount())
	}
}

func TestReplayStopsWhenTheLeaseIsLost(t *testing.T) {
	buf := &fakeBuffer{leases: []bool{true, false}}
	var ids []string
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("e%03d", i))
	}
	buf.fill(t, "item-1", ids...)
	b := &fakeBroker{}
	n, err := newTestReplayer(buf, b).ReplayOnce(context.Background())
	// The first batch of 100 is replayed; the renewal before the next fails.
	if err == nil || n != 100 {
		t.Fatalf("replayed %d, %v; want 100 and an error", n, err)
	}
	if got := b.ids(); !slices.Equal(got, ids[:100]) {
		t.Fatalf("broker got %d events, want the first 100", len(got))
	}
	if got := buf.ids(); !slices.Equal(got, ids[100:]) {
		t.Fatalf("buffer holds %d events, want the last 50", len(got))
	}
}

func TestReplayOfAnEmptyBufferTakesNoLease(t *testing.T) {
	buf := &fakeBuffer{}
	n, err := newTestReplayer(buf, &fakeBroker{}).ReplayOnce(context.Background())
	if err != nil || n != 0 || len(buf.leaseTTLs) != 0 {
		t.Fatalf("replayed %d, %v, leases %d; want nothing", n, err, len(buf.leaseTTLs))
	}
	buf.depthErr = errors.New("redis down")
	if _, err := newTestReplayer(buf, &fakeBroker{}).ReplayOnce(context.Background()); !errors.Is(err, buf.depthErr) {
		t.Fatalf("err %v, want the depth error", err)
	}
	buf.depthErr = nil
	buf.fill(t, "k", "e1")
	buf.oldestErr = errors.New("redis down")
	if _, err := newTestReplayer(buf, &fakeBroker{}).ReplayOnce(context.Background()); !errors.Is(err, buf.oldestErr) {
		t.Fatalf("err %v, want the read error", err)
	}
}

func TestRunReplaysOnEachIntervalUntilCancelled(t *testing.T) {
	buf := &fakeBuffer{}
	buf.fill(t, "item-1", "e1", "e2")
	b := &fakeBroker{}
	r := NewReplayer(buf, b, time.Millisecond, time.Second, discardLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for len(buf.ids()) != 0 {
		time.Sleep(time.Millisecond) // a tick replays the buffer
	}
	cancel()
	<-done // Run returns when its context ends
	if got := b.ids(); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("broker got %v", got)
	}
}
