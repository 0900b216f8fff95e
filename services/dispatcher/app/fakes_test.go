package app

import (
	"context"
	"github.com/pawnshop/auction/internal/topics"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

// discardLog returns a logger that writes nowhere.
func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeBroker records what it acknowledged. fail, when set, decides per
// message whether the broker refuses it; hang makes it wait for the end of
// the publish context instead (a broker slower than the timeout).
type fakeBroker struct {
	mu        sync.Mutex
	published []Message
	calls     int
	fail      func(m Message) error
	hang      bool
	// before runs at the start of each Send (to look at the buffer at
	// that moment).
	before func(m Message)
	// deadlines records whether each publish context had a deadline.
	deadlines []bool
}

// Send implements Broker; the message is rebuilt from its parts (its id
// from the event-id header) for the tests to look at.
func (b *fakeBroker) Send(ctx context.Context, topic string, key, value []byte, headers map[string]string) error {
	m := Message{ID: headers[topics.HeaderEventID], Topic: topic, Key: string(key), Value: value, Headers: headers}
	b.mu.Lock()
	b.calls++
	_, hasDeadline := ctx.Deadline()
	b.deadlines = append(b.deadlines, hasDeadline)
	fail, hang, before := b.fail, b.hang, b.before
	b.mu.Unlock()
	if before != nil {
		before(m)
	}
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail != nil {
		if err := fail(m); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.published = append(b.published, m)
	return nil
}

func (b *fakeBroker) ids() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.published))
	for _, m := range b.published {
		out = append(out, m.ID)
	}
	return out
}

func (b *fakeBroker) callCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// fakeBuffer is an in-memory write buffer in arrival order. It implements
// both Buffer (the publisher's side) and ReplayBuffer (the replayer's side).
// The error fields make the matching operation fail.
type fakeBuffer struct {
	mu      sync.Mutex
	waiting []Waiting
	next    int

	appendErr, holdsErr, oldestErr, removeErr, depthErr, leaseErr error
	// leases answers successive Lease calls; when exhausted, Lease grants.
	leases    []bool
	leaseTTLs []time.Duration
	// holdsCalls and appendCtxErr record how the publisher used the buffer.
	holdsCalls   int
	appendCtxErr []error
	removed      []string
	// hint overrides MayHold when set.
	hint *bool
}

func (f *fakeBuffer) Append(ctx context.Context, m Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appendCtxErr = append(f.appendCtxErr, ctx.Err())
	if f.appendErr != nil {
		return f.appendErr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	f.next++
	f.waiting = append(f.waiting, Waiting{Position: strconv.Itoa(f.next), Message: m})
	return nil
}

func (f *fakeBuffer) Holds(_ context.Context, key string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holdsCalls++
	if f.holdsErr != nil {
		return false, f.holdsErr
	}
	for _, w := range f.waiting {
		if w.Key == key {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeBuffer) MayHold() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hint != nil {
		return *f.hint
	}
	return len(f.waiting) > 0
}

func (f *fakeBuffer) Lease(_ context.Context, ttl time.Duration) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaseTTLs = append(f.leaseTTLs, ttl)
	if f.leaseErr != nil {
		return false, f.leaseErr
	}
	if len(f.leases) == 0 {
		return true, nil
	}
	ok := f.leases[0]
	f.leases = f.leases[1:]
	return ok, nil
}

func (f *fakeBuffer) Oldest(_ context.Context, n int) ([]Waiting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.oldestErr != nil {
		return nil, f.oldestErr
	}
	n = min(n, len(f.waiting))
	return append([]Waiting(nil), f.waiting[:n]...), nil
}

func (f *fakeBuffer) Remove(_ context.Context, b Waiting) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removeErr != nil {
		return f.removeErr
	}
	for i, w := range f.waiting {
		if w.Position == b.Position {
			f.waiting = append(f.waiting[:i], f.waiting[i+1:]...)
			f.removed = append(f.removed, b.ID)
			return nil
		}
	}
	return nil
}

func (f *fakeBuffer) Depth(context.Context) (int64, time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.depthErr != nil {
		return 0, 0, f.depthErr
	}
	return int64(len(f.waiting)), time.Second, nil
}

// ids returns the ids of the waiting messages in order.
func (f *fakeBuffer) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.waiting))
	for _, w := range f.waiting {
		out = append(out, w.ID)
	}
	return out
}

// holds reports whether the message with this id is waiting.
func (f *fakeBuffer) holds(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.waiting {
		if w.ID == id {
			return true
		}
	}
	return false
}

// fill appends messages with the given ids, all for key.
func (f *fakeBuffer) fill(t testing.TB, key string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := f.Append(context.Background(), Message{ID: id, Topic: "items", Key: key, Value: []byte(id), Headers: map[string]string{topics.HeaderEventID: id}}); err != nil {
			t.Fatal(err)
		}
	}
}
