package embedded

import (
	"context"
	"fmt"
	"net"
	"sync"

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
// the wall clock, as on a real server.
type Redis struct {
	m   *miniredis.Miniredis
	url string

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
	// Without this, miniredis only ages TTLs on FastForward: a key given an
	// EXPIRE (such as a feeder's half-built temporary set) would live for
	// ever in a long-running dev stack.
	m.ClockTTL(true)
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
	return &Redis{m: m, url: "redis://" + net.JoinHostPort(host, port) + "/0"}, nil
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
	r.closeOnce.Do(r.m.Close)
}
