package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/topics"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
	"github.com/pawnshop/auction/services/dispatcher/app"
	goredis "github.com/redis/go-redis/v9"
)

func newClient(t testing.TB) *goredis.Client {
	t.Helper()
	r, err := embedded.StartRedis(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	opts, err := goredis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestWriteBufferKeepsOrderAndCountsPerKey(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	a := redis.NewWriteBuffer(rdb, clustername.Name{}, "dispatcher-a", quiet())
	msgs := []app.Message{
		{ID: "e1", Topic: "items", Key: "i1", Value: []byte{0, 1, 2, 0xff}, Headers: map[string]string{"h": "v"}},
		{ID: "e2", Topic: "buy-actions", Key: "i1", Value: []byte("b")},
		{ID: "e3", Topic: "items", Key: "i2", Value: []byte("c")},
	}
	for _, m := range msgs {
		if err := a.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if held, _ := a.Holds(ctx, "i1"); !held {
		t.Fatal("i1 has buffered events")
	}
	if held, _ := a.Holds(ctx, "i9"); held {
		t.Fatal("i9 has none")
	}
	depth, _, err := a.Depth(ctx)
	if err != nil || depth != 3 || !a.MayHold() {
		t.Fatalf("depth %d %v mayHold %v", depth, err, a.MayHold())
	}
	got, err := a.Oldest(ctx, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("oldest: %v %v", got, err)
	}
	for i, w := range got {
		if w.ID != msgs[i].ID || string(w.Value) != string(msgs[i].Value) || w.Topic != msgs[i].Topic {
			t.Fatalf("entry %d: %+v, want %+v", i, w.Message, msgs[i])
		}
	}
	if got[0].Headers["h"] != "v" {
		t.Errorf("headers lost: %v", got[0].Headers)
	}
	// Removing e1 leaves i1 held (e2 waits); removing e2 releases it.
	if err := a.Remove(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if held, _ := a.Holds(ctx, "i1"); !held {
		t.Fatal("i1 still has e2 buffered")
	}
	if err := a.Remove(ctx, got[1]); err != nil {
		t.Fatal(err)
	}
	if held, _ := a.Holds(ctx, "i1"); held {
		t.Fatal("i1 released after its last event")
	}
	_ = a.Remove(ctx, got[2])
	if depth, _, _ := a.Depth(ctx); depth != 0 || a.MayHold() {
		t.Fatalf("empty buffer: depth %d mayHold %v", depth, a.MayHold())
	}
}

func TestReplayLeaseIsExclusive(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	a := redis.NewWriteBuffer(rdb, clustername.Name{}, "dispatcher-a", quiet())
	b := redis.NewWriteBuffer(rdb, clustername.Name{}, "dispatcher-b", quiet())
	if ok, err := a.Lease(ctx, time.Second); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, _ := b.Lease(ctx, time.Second); ok {
		t.Fatal("b took a lease a holds")
	}
	if ok, _ := a.Lease(ctx, 50*time.Millisecond); !ok {
		t.Fatal("a could not renew its lease")
	}
	time.Sleep(120 * time.Millisecond) // a's lease expires (a crashed)
	if ok, _ := b.Lease(ctx, time.Second); !ok {
		t.Fatal("b could not take an expired lease")
	}
}

func TestReplayerPublishesInOrderAndEmptiesTheBuffer(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	buf := redis.NewWriteBuffer(rdb, clustername.Name{}, "d", quiet())
	for _, id := range []string{"e1", "e2", "e3"} {
		if err := buf.Append(ctx, app.Message{ID: id, Topic: "items", Key: "k", Value: []byte(id), Headers: map[string]string{topics.HeaderEventID: id}}); err != nil {
			t.Fatal(err)
		}
	}
	var published []string
	broker := brokerFunc(func(_ context.Context, _ string, _, _ []byte, headers map[string]string) error {
		published = append(published, headers[topics.HeaderEventID])
		return nil
	})
	n, err := app.NewReplayer(buf, broker, time.Second, time.Second, quiet()).ReplayOnce(ctx)
	if err != nil || n != 3 {
		t.Fatalf("replayed %d: %v", n, err)
	}
	if len(published) != 3 || published[0] != "e1" || published[2] != "e3" {
		t.Fatalf("published %v", published)
	}
	if depth, _, _ := buf.Depth(ctx); depth != 0 {
		t.Fatalf("depth after replay: %d", depth)
	}
}

type brokerFunc func(ctx context.Context, topic string, key, value []byte, headers map[string]string) error

func (f brokerFunc) Send(ctx context.Context, topic string, key, value []byte, headers map[string]string) error {
	return f(ctx, topic, key, value, headers)
}

// TestReplayLeaseSpansDispatchers: two dispatchers of one deployment replay
// one buffer on one Redis. While both run, only the holder of the lease
// publishes; when it stops (crash or shutdown: it no longer renews), the
// other takes the lease over and publishes what is buffered next.
func TestReplayLeaseSpansDispatchers(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	name := clustername.MustParse("spans")
	var mu sync.Mutex
	by := map[string]string{} // event id -> dispatcher that published it
	run := func(owner string) context.CancelFunc {
		buf := redis.NewWriteBuffer(rdb, name, owner, quiet())
		broker := brokerFunc(func(_ context.Context, _ string, _, _ []byte, headers map[string]string) error {
			mu.Lock()
			defer mu.Unlock()
			by[headers[topics.HeaderEventID]] = owner
			return nil
		})
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			// The lease lasts 3 ticks plus the publish timeout and is only
			// renewed while there is something to replay: with a 1 s
			// timeout it outlives any pause between appends on a loaded
			// machine (with 20 ms, a pause of 80 ms let the other
			// dispatcher take it, which the assertion below reads as two
			// holders), and still expires well within appendAndWait's
			// deadline once its holder stops.
			app.NewReplayer(buf, broker, 20*time.Millisecond, time.Second, quiet()).Run(rctx)
		}()
		return func() { cancel(); <-done }
	}
	writer := redis.NewWriteBuffer(rdb, name, "writer", quiet())
	appendAndWait := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			id := fmt.Sprintf("e%d", i)
			if err := writer.Append(ctx, app.Message{ID: id, Topic: "spans.items", Key: id, Value: []byte(id), Headers: map[string]string{topics.HeaderEventID: id}}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			n := 0
			for i := from; i < to; i++ {
				if _, ok := by[fmt.Sprintf("e%d", i)]; ok {
					n++
				}
			}
			mu.Unlock()
			if n == to-from {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of events e%d..e%d published", n, from, to-1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	publishers := func(from, to int) map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for i := from; i < to; i++ {
			out[by[fmt.Sprintf("e%d", i)]]++
		}
		return out
	}

	stop1 := run("dispatcher-1")
	stop2 := run("dispatcher-2")
	defer stop2()
	appendAndWait(0, 40)
	first := publishers(0, 40)
	if len(first) != 1 {
		t.Fatalf("with both running, events were published by %v, want one lease holder", first)
	}
	holder := rdb.Get(ctx, "spans:wbuf:lease").Val()
	if first[holder] != 40 {
		t.Fatalf("published by %v, the lease names %q", first, holder)
	}
	other := map[string]string{"dispatcher-1": "dispatcher-2", "dispatcher-2": "dispatcher-1"}[holder]
	if holder == "dispatcher-1" {
		stop1()
	} else {
		stop2()
		defer stop1()
	}
	appendAndWait(40, 60)
	if got := publishers(40, 60); got[other] != 20 {
		t.Fatalf("after %s stopped, events were published by %v, want all by %s", holder, got, other)
	}
	if v := rdb.Get(ctx, "spans:wbuf:lease").Val(); v != other {
		t.Fatalf("lease held by %q, want %q", v, other)
	}
}
