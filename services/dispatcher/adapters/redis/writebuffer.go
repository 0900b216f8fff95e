package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/services/dispatcher/app"
	goredis "github.com/redis/go-redis/v9"
)

// bufferKeys are the Redis names of one deployment's write buffer, shared by
// every dispatcher of that deployment and by no other: all are under its
// CLUSTER_NAME, so that a deployment never replays another's events.
type bufferKeys struct {
	// stream holds buffered messages in arrival order ("<name>:wbuf:events").
	stream string
	// pending counts, per message key (item id), the messages waiting
	// ("<name>:wbuf:pending").
	pending string
	// lease names the dispatcher allowed to replay ("<name>:wbuf:lease").
	lease string
	// appended announces an append, so that other dispatchers start checking
	// keys against the buffer at once ("<name>:wbuf:appended").
	appended string
}

func bufferKeysFor(n clustername.Name) bufferKeys {
	return bufferKeys{stream: n.Key("wbuf", "events"), pending: n.Key("wbuf", "pending"),
		lease: n.Key("wbuf", "lease"), appended: n.Key("wbuf", "appended")}
}

// appendScript adds a message and counts it for its key, atomically.
var appendScript = goredis.NewScript(`
local id = redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'topic', ARGV[2], 'key', ARGV[3], 'value', ARGV[4], 'headers', ARGV[5])
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
return id`)

// removeScript deletes a replayed message and uncounts it, atomically, so a
// concurrent append for the same key is never forgotten.
var removeScript = goredis.NewScript(`
local n = redis.call('XDEL', KEYS[1], ARGV[1])
if n == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[2])
  end
end
return n`)

// leaseScript takes the lease when free or renews it when held by us.
var leaseScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// WriteBuffer is the write buffer in a Redis stream. It implements
// app.Buffer and app.ReplayBuffer.
type WriteBuffer struct {
	rdb   *goredis.Client
	keys  bufferKeys
	owner string
	log   *slog.Logger
	// mayHold is the local hint behind MayHold.
	mayHold atomic.Bool
	// depth is the depth seen by the last Depth call, for metrics.
	depth atomic.Int64
}

var (
	_ app.Buffer       = (*WriteBuffer)(nil)
	_ app.ReplayBuffer = (*WriteBuffer)(nil)
)

// NewWriteBuffer returns the buffer of the deployment name; owner identifies
// this dispatcher in the replay lease. It starts assuming the buffer may hold
// events until the first Depth says otherwise.
func NewWriteBuffer(rdb *goredis.Client, name clustername.Name, owner string, log *slog.Logger) *WriteBuffer {
	b := &WriteBuffer{rdb: rdb, keys: bufferKeysFor(name), owner: owner, log: log}
	b.mayHold.Store(true)
	return b
}

// Append implements app.Buffer.
func (b *WriteBuffer) Append(ctx context.Context, m app.Message) error {
	headers, err := json.Marshal(m.Headers)
	if err != nil {
		return fmt.Errorf("encode headers: %w", err)
	}
	b.mayHold.Store(true)
	if err := appendScript.Run(ctx, b.rdb, []string{b.keys.stream, b.keys.pending}, m.ID, m.Topic, m.Key, m.Value, headers).Err(); err != nil {
		return fmt.Errorf("append to the write buffer: %w", err)
	}
	// Best effort: others also learn it from their periodic Depth.
	_ = b.rdb.Publish(ctx, b.keys.appended, m.Key).Err()
	return nil
}

// Holds implements app.Buffer.
func (b *WriteBuffer) Holds(ctx context.Context, key string) (bool, error) {
	ok, err := b.rdb.HExists(ctx, b.keys.pending, key).Result()
	if err != nil {
		return false, fmt.Errorf("check the write buffer: %w", err)
	}
	return ok, nil
}

// MayHold implements app.Buffer.
func (b *WriteBuffer) MayHold() bool { return b.mayHold.Load() }

// Follow listens for appends by other dispatchers until ctx ends.
func (b *WriteBuffer) Follow(ctx context.Context) {
	sub := b.rdb.Subscribe(ctx, b.keys.appended)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			b.mayHold.Store(true)
		}
	}
}

// Lease implements app.ReplayBuffer.
func (b *WriteBuffer) Lease(ctx context.Context, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, b.rdb, []string{b.keys.lease}, b.owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("replay lease: %w", err)
	}
	return n == 1, nil
}

// Oldest implements app.ReplayBuffer.
func (b *WriteBuffer) Oldest(ctx context.Context, n int) ([]app.Waiting, error) {
	entries, err := b.rdb.XRangeN(ctx, b.keys.stream, "-", "+", int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the write buffer: %w", err)
	}
	out := make([]app.Waiting, 0, len(entries))
	for _, e := range entries {
		w, err := decodeEntry(e)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

func decodeEntry(e goredis.XMessage) (app.Waiting, error) {
	str := func(k string) string { s, _ := e.Values[k].(string); return s }
	w := app.Waiting{Position: e.ID, Message: app.Message{ID: str("id"), Topic: str("topic"), Key: str("key"), Value: []byte(str("value"))}}
	if h := str("headers"); h != "" {
		if err := json.Unmarshal([]byte(h), &w.Headers); err != nil {
			return app.Waiting{}, fmt.Errorf("buffered entry %s: headers: %w", e.ID, err)
		}
	}
	if w.ID == "" || w.Topic == "" {
		return app.Waiting{}, fmt.Errorf("buffered entry %s is incomplete", e.ID)
	}
	return w, nil
}

// Remove implements app.ReplayBuffer.
func (b *WriteBuffer) Remove(ctx context.Context, w app.Waiting) error {
	if err := removeScript.Run(ctx, b.rdb, []string{b.keys.stream, b.keys.pending}, w.Position, w.Key).Err(); err != nil {
		return fmt.Errorf("remove from the write buffer: %w", err)
	}
	return nil
}

// Depth implements app.ReplayBuffer.
func (b *WriteBuffer) Depth(ctx context.Context) (int64, time.Duration, error) {
	n, err := b.rdb.XLen(ctx, b.keys.stream).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("write buffer length: %w", err)
	}
	b.depth.Store(n)
	if n == 0 {
		b.mayHold.Store(false)
		return 0, 0, nil
	}
	b.mayHold.Store(true)
	first, err := b.rdb.XRangeN(ctx, b.keys.stream, "-", "+", 1).Result()
	if err != nil || len(first) == 0 {
		return n, 0, err
	}
	return n, entryAge(first[0].ID), nil
}

// LastDepth is the depth seen by the last Depth call (every replay interval).
func (b *WriteBuffer) LastDepth() int64 { return b.depth.Load() }

// entryAge reads the age of a stream entry from its id ("<ms>-<seq>").
func entryAge(id string) time.Duration {
	ms, err := strconv.ParseInt(strings.SplitN(id, "-", 2)[0], 10, 64)
	if err != nil {
		return 0
	}
	return time.Since(time.UnixMilli(ms))
}

// Status describes the buffer for /readyz.
func (b *WriteBuffer) Status(ctx context.Context) map[string]any {
	n, age, err := b.Depth(ctx)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return map[string]any{"depth": n, "oldestAgeSeconds": age.Seconds()}
}
