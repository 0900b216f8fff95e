package ports

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// limiter caps the calls of one route class running at once. A call beyond
// the cap waits in a short FIFO queue for at most maxWait; when the queue is
// full it is refused at once, so that overload is answered in microseconds
// instead of seconds of waiting for a deadline.
type limiter struct {
	slots    chan struct{}
	queued   atomic.Int64
	maxQueue int64
	maxWait  time.Duration
	// inflight and waiting show the limiter's state as metrics.
	inflight, waiting prometheus.Gauge
}

// newLimiter returns a limiter of inflight slots and a queue of queue
// calls; inflight <= 0 means no limit (nil).
func newLimiter(inflight, queue int, maxWait time.Duration, inflightGauge, waitingGauge prometheus.Gauge) *limiter {
	if inflight <= 0 {
		return nil
	}
	return &limiter{slots: make(chan struct{}, inflight), maxQueue: int64(queue), maxWait: maxWait,
		inflight: inflightGauge, waiting: waitingGauge}
}

// acquire takes a slot, waiting in the queue if there is room; false means
// refused. A true acquire must be paired with release.
func (l *limiter) acquire(ctx context.Context) bool {
	if l == nil {
		return true
	}
	select {
	case l.slots <- struct{}{}:
		l.inflight.Inc()
		return true
	default:
	}
	if l.maxWait <= 0 || l.maxQueue <= 0 {
		return false
	}
	if l.queued.Add(1) > l.maxQueue {
		l.queued.Add(-1)
		return false
	}
	l.waiting.Inc()
	defer func() {
		l.queued.Add(-1)
		l.waiting.Dec()
	}()
	t := time.NewTimer(l.maxWait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		l.inflight.Inc()
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (l *limiter) release() {
	if l != nil {
		<-l.slots
		l.inflight.Dec()
	}
}

// maxTrackedClients bounds the rate limiter's memory: past it, idle clients
// are forgotten at once, and if all are active new clients share one bucket.
const maxTrackedClients = 100000

// rateLimiter is a token bucket per client key: rate calls per second on
// average, burst at once.
type rateLimiter struct {
	rate, burst float64
	now         func() time.Time

	mu        sync.Mutex
	clients   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newRateLimiter returns nil (no limit) when rate <= 0.
func newRateLimiter(rate float64, burst int) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &rateLimiter{rate: rate, burst: float64(burst), now: time.Now, clients: map[string]*bucket{}}
}

// allow takes a token for key; when there is none it returns false and how
// long until there is one.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxTrackedClients || now.Sub(l.lastSweep) > time.Minute {
			l.sweep(now)
		}
		if len(l.clients) >= maxTrackedClients {
			key = "" // every new client shares the overflow bucket
			b = l.clients[key]
		}
		if b == nil {
			b = &bucket{tokens: l.burst, last: now}
			l.clients[key] = b
		}
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep forgets clients whose bucket has refilled: they are idle.
func (l *rateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.clients {
		if now.Sub(b.last) >= full {
			delete(l.clients, k)
		}
	}
}

// clientKey names the client of r for the rate limit: the connection's
// address, or, when a trusted proxy's header is configured and present, the
// last address in it (the one the proxy appended). IPv6 clients are keyed by
// their /64, which one host usually owns whole.
func clientKey(r *http.Request, header string) string {
	addr := ""
	if header != "" {
		if v := r.Header.Values(header); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			addr = strings.TrimSpace(last)
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(r.RemoteAddr)
		if splitErr != nil {
			host = r.RemoteAddr
		}
		if ip, err = netip.ParseAddr(host); err != nil {
			return host
		}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
