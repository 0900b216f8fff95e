package app

import (
	"context"
	"errors"
	"testing"
	"time"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	clusterv1 "github.com/pawnshop/auction/gen/go/cluster/v1"
)

// fakeWorker answers FetchItem with a fixed error or item, optionally after a delay.
type fakeWorker struct {
	WorkerClient
	err   error
	delay time.Duration
	calls int
}

func (f *fakeWorker) FetchItem(ctx context.Context, r *clusterv1.FetchItemRequest) (*clusterv1.FetchItemResponse, error) {
	f.calls++
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	return &clusterv1.FetchItemResponse{Item: &auctionv1.ItemWithHistory{Item: &auctionv1.Item{Id: r.GetId()}}}, nil
}

// orderedPool hands out workers in order, skipping the excluded one.
type orderedPool struct {
	ids     []string
	workers map[string]*fakeWorker
	down    []string
}

func (p *orderedPool) Pick(exclude string) (string, WorkerClient, bool) {
	for _, id := range p.ids {
		if id != exclude {
			return id, p.workers[id], true
		}
	}
	return "", nil, false
}

func (p *orderedPool) MarkDown(id string) { p.down = append(p.down, id) }

func pool(ws ...*fakeWorker) *orderedPool {
	p := &orderedPool{workers: map[string]*fakeWorker{}}
	for i, w := range ws {
		id := string(rune('a' + i))
		p.ids = append(p.ids, id)
		p.workers[id] = w
	}
	return p
}

func TestReadRetriesOnceOnAnotherWorker(t *testing.T) {
	bad, good := &fakeWorker{err: ErrWorkerUnavailable}, &fakeWorker{}
	p := pool(bad, good)
	item, err := NewReads(p, time.Second).GetItem(context.Background(), "x")
	if err != nil || item.GetItem().GetId() != "x" {
		t.Fatalf("got %v, %v", item, err)
	}
	if len(p.down) != 1 || p.down[0] != "a" {
		t.Errorf("the unavailable worker was not marked down: %v", p.down)
	}
}

func TestReadRetriesAfterTimeout(t *testing.T) {
	slow, good := &fakeWorker{delay: time.Second}, &fakeWorker{}
	p := pool(slow, good)
	if _, err := NewReads(p, 20*time.Millisecond).GetItem(context.Background(), "x"); err != nil {
		t.Fatalf("a slow worker should be retried on another: %v", err)
	}
	if good.calls != 1 {
		t.Errorf("second worker calls: %d", good.calls)
	}
	if len(p.down) != 0 {
		t.Errorf("a slow worker is not a dead one, but it was marked down: %v", p.down)
	}
}

func TestReadGivesUpAfterTwoWorkers(t *testing.T) {
	a, b, c := &fakeWorker{err: ErrWorkerUnavailable}, &fakeWorker{err: ErrWorkerSlow}, &fakeWorker{}
	_, err := NewReads(pool(a, b, c), time.Second).GetItem(context.Background(), "x")
	if !errors.Is(err, ErrWorkerSlow) || c.calls != 0 {
		t.Fatalf("want one retry only, then the last failure: %v (third calls %d)", err, c.calls)
	}
}

func TestNotFoundIsNotRetried(t *testing.T) {
	a, b := &fakeWorker{err: ErrNotFound}, &fakeWorker{}
	_, err := NewReads(pool(a, b), time.Second).GetItem(context.Background(), "x")
	if !errors.Is(err, ErrNotFound) || b.calls != 0 {
		t.Fatalf("got %v, second calls %d", err, b.calls)
	}
}

func TestNoWorkers(t *testing.T) {
	if _, err := NewReads(pool(), time.Second).GetItem(context.Background(), "x"); !errors.Is(err, ErrNoWorkers) {
		t.Fatalf("got %v", err)
	}
}
