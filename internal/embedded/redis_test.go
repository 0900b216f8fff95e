package embedded_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/embedded"
	"github.com/redis/go-redis/v9"
)

// TestRedisCommands runs, through go-redis, every command the feeder and
// the dispatcher use, so a miniredis upgrade that drops one fails here.
func TestRedisCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := embedded.StartRedis(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/0") {
		t.Fatalf("URL %q", r.URL())
	}
	opts, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })

	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Sets, RENAME, DEL, PERSIST.
	check("SADD", c.SAdd(ctx, "tmp", "a", "b", "c").Err())
	check("EXPIRE", c.Expire(ctx, "tmp", time.Hour).Err())
	check("RENAME", c.Rename(ctx, "tmp", "set").Err())
	check("PERSIST", c.Persist(ctx, "set").Err())
	if ttl := c.TTL(ctx, "set").Val(); ttl != -1 {
		t.Fatalf("TTL after PERSIST: %v", ttl)
	}
	members, err := c.SMembers(ctx, "set").Result()
	check("SMEMBERS", err)
	slices.Sort(members)
	if !slices.Equal(members, []string{"a", "b", "c"}) {
		t.Fatalf("SMEMBERS: %v", members)
	}
	var scanned []string
	iter := c.SScan(ctx, "set", 0, "", 2).Iterator()
	for iter.Next(ctx) {
		scanned = append(scanned, iter.Val())
	}
	check("SSCAN", iter.Err())
	if len(scanned) != 3 {
		t.Fatalf("SSCAN: %v", scanned)
	}
	check("DEL", c.Del(ctx, "set").Err())
	if n := c.Exists(ctx, "set").Val(); n != 0 {
		t.Fatal("DEL left the key")
	}

	// Strings, pub/sub and MULTI/EXEC together, as the feeder publishes.
	sub := c.Subscribe(ctx, "updates")
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "version", "v1", 0)
		p.Publish(ctx, "updates", "v1")
		return nil
	})
	check("MULTI/EXEC", err)
	msg, err := sub.ReceiveMessage(ctx)
	check("SUBSCRIBE", err)
	if msg.Payload != "v1" || c.Get(ctx, "version").Val() != "v1" {
		t.Fatalf("message %q, GET %q", msg.Payload, c.Get(ctx, "version").Val())
	}

	// Streams, consumer groups included.
	id1, err := c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: map[string]any{"k": "1"}}).Result()
	check("XADD", err)
	_, err = c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: map[string]any{"k": "2"}}).Result()
	check("XADD", err)
	if n := c.XLen(ctx, "s").Val(); n != 2 {
		t.Fatalf("XLEN %d", n)
	}
	if rng := c.XRange(ctx, "s", "-", "+").Val(); len(rng) != 2 || rng[0].ID != id1 {
		t.Fatalf("XRANGE %v", rng)
	}
	check("XGROUP CREATE", c.XGroupCreate(ctx, "s", "g", "0").Err())
	streams, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c1", Streams: []string{"s", ">"}, Count: 10}).Result()
	check("XREADGROUP", err)
	if len(streams) != 1 || len(streams[0].Messages) != 2 {
		t.Fatalf("XREADGROUP %v", streams)
	}
	claimed, _, err := c.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: "s", Group: "g", Consumer: "c2", Start: "0", Count: 10}).Result()
	check("XAUTOCLAIM", err)
	if len(claimed) != 2 {
		t.Fatalf("XAUTOCLAIM claimed %d", len(claimed))
	}
	check("XACK", c.XAck(ctx, "s", "g", id1).Err())
	check("XDEL", c.XDel(ctx, "s", id1).Err())
	if n := c.XLen(ctx, "s").Val(); n != 1 {
		t.Fatalf("XLEN after XDEL %d", n)
	}

	// Another database through the URL.
	opts15, err := redis.ParseURL(strings.TrimSuffix(r.URL(), "/0") + "/15")
	check("ParseURL /15", err)
	c15 := redis.NewClient(opts15)
	t.Cleanup(func() { _ = c15.Close() })
	check("SET in db 15", c15.Set(ctx, "version", "other", 0).Err())
	if c.Get(ctx, "version").Val() != "v1" {
		t.Fatal("databases are not separate")
	}
}

// startRedisClient starts the stand-in on a random port and a client of
// it, both closed at the end of the test.
func startRedisClient(t testing.TB) (*embedded.Redis, *redis.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := embedded.StartRedis(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	opts, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return r, c
}

func TestRedisTTLsRunOnTheClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, c := startRedisClient(t)
	if err := c.Set(ctx, "k", "v", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	if n := c.Exists(ctx, "k").Val(); n != 0 {
		t.Fatal("the key outlived its TTL")
	}
	r.Close()
	r.Close() // idempotent
}

// TestRedisTTLsExpireAmongManyKeys: with many keys (aging visits them all,
// so it ticks less often), a key still expires soon after its TTL.
func TestRedisTTLsExpireAmongManyKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, c := startRedisClient(t)
	pipe := c.Pipeline()
	for i := range 50_000 {
		pipe.Set(ctx, fmt.Sprintf("claim:%d", i), "x", time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v", 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Exists(ctx, "k").Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the key outlived its TTL by 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := c.DBSize(ctx).Val(); n != 50_000 {
		t.Fatalf("%d keys left, want the 50,000 with an hour to live", n)
	}
}
