package embedded

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Redis is a running, in-process Redis stand-in (miniredis). It exists so
// tests and the dev stack can use a real Redis client over the real RESP
// protocol without a Redis server. It keeps its data in memory and loses it
// on Close.
//
// It covers what the feeder and the dispatcher use: sets (SADD, SMEMBERS,
// SSCAN), RENAME, DEL, PERSIST, strings (SET, GET), pub/sub (PUBLISH,
// SUBSCRIBE), MULTI/EXEC, SELECT of databases 0 to 15, and streams (XADD,
// XRANGE, XDEL, XLEN, XGROUP, XREADGROUP, XACK, XAUTOCLAIM). Key TTLs run on
// the wall clock, as on a real server (see age).
type Redis struct {
	m   *miniredis.Miniredis
	url string

	stop      chan struct{} // ends age
	aged      chan struct{} // closed when age returned
	closeOnce sync.Once
}

// StartRedis starts the stand-in on addr ("127.0.0.1:6379", or
// "127.0.0.1:0" for a random port; empty means "127.0.0.1:0") and returns
// once it accepts connections. It lives until Close; ctx only bounds the
// start-up.
func StartRedis(ctx context.Context, addr string) (*Redis, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("embedded redis: listen on %q: %w", addr, err)
	}
	host, port, err := net.SplitHostPort(m.Addr())
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("embedded redis: bound address %q: %w", m.Addr(), err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // clients cannot reliably dial 0.0.0.0 or ::
	}
	r := &Redis{m: m, url: "redis://" + net.JoinHostPort(host, port) + "/0", stop: make(chan struct{}), aged: make(chan struct{})}
	go r.age()
	return r, nil
}

// Aging TTLs: miniredis only moves TTLs on when told to (FastForward), and
// each move visits every key (sorted). Its own clock mode (ClockTTL) does
// that before every command, which made each command cost O(n log n) in
// the number of keys: with the dispatcher's item-id claims (then one key per
// id) the dev stack's Redis slowed every write and heartbeat as the shop grew
// (20% of the process's CPU at 1,000 writes/s, and heartbeats timed out).
// Instead, age moves them on from a goroutine, every agingMinTick or, when
// a move takes long, agingShare times as long as it took (agingWait), so
// that aging takes about 1/agingShare of a core.
//
// The wait is bounded by agingMaxTick because a move is not exact: it
// takes the whole time since the last move off every TTL, also off one set
// or refreshed since then (miniredis keeps the time left, not a deadline),
// so such a key can end up to one wait early. A move costs O(n log n) in
// the number of keys and holds the lock meanwhile: about 14 ms at 25,000
// keys, 82 ms at 100,000, 265 ms at 300,000, more on a busy machine (the
// item-id claims, kept for good, now fill at most 1,024 hashes whatever the
// number of ids, so the platform's keyspace stays small). At 20×
// 300 ms, a wait of 6 s could expire a worker's registration (TTL 6 s,
// refreshed every 2 s) between two heartbeats. With the bound, and with
// agingStep not counting a move's delay past its plan, a TTL ends at most
// 1 s early (one tick with few keys); aging takes a larger share of a core
// only once a move takes over agingMaxTick/agingShare (50 ms).
const (
	agingMinTick = 10 * time.Millisecond
	agingMaxTick = time.Second
	agingShare   = 20
)

// agingWait is how long age waits after a move that took took.
func agingWait(took time.Duration) time.Duration {
	return min(max(agingMinTick, agingShare*took), agingMaxTick)
}

// agingStep is how far a move takes the TTLs on when elapsed has passed
// since the last move, which planned the wait before this one: elapsed, but
// no more than the wait and one more tick. A move that comes later than
// that (its goroutine starved on a busy machine) would take the whole delay
// off TTLs set or refreshed just before it too, which could expire a
// worker's registration between two heartbeats on time; instead the delay
// beyond the plan is not counted, and TTLs end that much late, never early.
func agingStep(elapsed, planned time.Duration) time.Duration {
	return min(elapsed, planned+agingMinTick)
}

// age moves the TTLs on with the wall clock until Close.
func (r *Redis) age() {
	defer close(r.aged)
	last := time.Now()
	planned := agingMinTick
	t := time.NewTimer(planned)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		r.m.FastForward(agingStep(now.Sub(last), planned))
		last = now
		planned = agingWait(time.Since(now))
		t.Reset(planned)
	}
}

// URL returns the connection URL, "redis://host:port/0", as go-redis's
// ParseURL and REDIS_URL take it. Another database is the same URL with
// another number in place of 0.
func (r *Redis) URL() string { return r.url }

// Miniredis returns the underlying server, so tests can inspect keys, inject
// errors (SetError) or move TTLs on (FastForward). Do not Close it directly;
// use Redis.Close.
func (r *Redis) Miniredis() *miniredis.Miniredis { return r.m }

// Close stops the server and drops its data. It is safe to call more than
// once.
func (r *Redis) Close() {
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.aged
		r.m.Close()
	})
}
