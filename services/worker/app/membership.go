package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Rejected is the dispatcher's refusal of a join; the worker must exit.
type Rejected struct {
	Reason string
}

func (r *Rejected) Error() string { return "join rejected by the dispatcher: " + r.Reason }

// Dispatcher is the membership API of the dispatcher, as the worker uses it.
// Join returns *Rejected for a refusal and another error when no answer came.
type Dispatcher interface {
	Join(ctx context.Context) (heartbeat time.Duration, err error)
	// Heartbeat returns known=false when the dispatcher does not know the
	// worker (evicted, or restarted).
	Heartbeat(ctx context.Context) (known bool, err error)
	Leave(ctx context.Context) error
}

// Membership keeps the worker in the dispatcher's quorum: join with backoff
// until answered, heartbeat while alive, join again when forgotten.
type Membership struct {
	d   Dispatcher
	log *slog.Logger
	// MinBackoff and MaxBackoff bound the delay between join attempts.
	MinBackoff, MaxBackoff time.Duration
}

// NewMembership returns the membership use case.
func NewMembership(d Dispatcher, log *slog.Logger) *Membership {
	return &Membership{d: d, log: log, MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
}

// Join retries until the dispatcher answers. It returns the heartbeat
// interval when joined, a *Rejected when refused, or ctx's error.
func (m *Membership) Join(ctx context.Context) (time.Duration, error) {
	delay := m.MinBackoff
	for attempt := 1; ; attempt++ {
		hb, err := m.d.Join(ctx)
		var rej *Rejected
		switch {
		case err == nil:
			m.log.Info("joined the dispatcher", "attempt", attempt, "heartbeat_interval", hb)
			return hb, nil
		case errors.As(err, &rej):
			return 0, err
		}
		if attempt == 1 || attempt%10 == 0 {
			m.log.Warn("cannot reach the dispatcher to join; retrying", "attempt", attempt, "err", err)
		}
		// Full jitter keeps restarted workers from joining in lockstep.
		wait := time.Duration(rand.Int64N(int64(delay)) + 1)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("join: %w", context.Cause(ctx))
		case <-time.After(wait):
		}
		delay = min(delay*2, m.MaxBackoff)
	}
}

// KeepAlive sends heartbeats every interval until ctx ends. When the
// dispatcher no longer knows the worker, or cannot be reached for three
// intervals, it joins again. It returns a *Rejected if a rejoin is refused.
func (m *Membership) KeepAlive(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, interval)
		known, err := m.d.Heartbeat(hctx)
		cancel()
		switch {
		case err == nil && known:
			failures = 0
			continue
		case err == nil:
			m.log.Warn("the dispatcher does not know this worker; joining again")
		default:
			failures++
			if failures < 3 {
				continue
			}
			m.log.Warn("heartbeats are failing; joining again", "err", err)
		}
		hb, err := m.Join(ctx)
		if err != nil {
			var rej *Rejected
			if errors.As(err, &rej) {
				return err
			}
			return nil // ctx ended
		}
		failures = 0
		if hb > 0 && hb != interval {
			interval = hb
			t.Reset(interval)
		}
	}
}

// Leave tells the dispatcher the worker is going away.
func (m *Membership) Leave(ctx context.Context) {
	if err := m.d.Leave(ctx); err != nil {
		m.log.Warn("leave failed; the dispatcher will evict this worker after missed heartbeats", "err", err)
		return
	}
	m.log.Info("left the dispatcher")
}
