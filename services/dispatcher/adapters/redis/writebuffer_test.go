package redis_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

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
	a := redis.NewWriteBuffer(rdb, "dispatcher-a", quiet())
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
	a := redis.NewWriteBuffer(rdb, "dispatcher-a", quiet())
	b := redis.NewWriteBuffer(rdb, "dispatcher-b", quiet())
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
	buf := redis.NewWriteBuffer(rdb, "d", quiet())
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
