package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Waiting is a message waiting in the buffer, with its position.
type Waiting struct {
	Position string
	Message
}

// ReplayBuffer is what the replay job needs from the buffer.
type ReplayBuffer interface {
	// Lease takes or renews the right to replay for ttl; only one holder
	// replays at a time, so events are neither reordered nor replayed twice
	// concurrently.
	Lease(ctx context.Context, ttl time.Duration) (bool, error)
	// Oldest returns up to n messages in arrival order.
	Oldest(ctx context.Context, n int) ([]Waiting, error)
	// Remove deletes a replayed message.
	Remove(ctx context.Context, b Waiting) error
	// Depth returns how many messages wait and how old the oldest is, and
	// refreshes the MayHold hint.
	Depth(ctx context.Context) (int64, time.Duration, error)
}

// Replayer moves buffered events to the broker on a schedule.
type Replayer struct {
	buf      ReplayBuffer
	broker   Broker
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
}

// NewReplayer returns the replay job.
func NewReplayer(buf ReplayBuffer, broker Broker, interval, publishTimeout time.Duration, log *slog.Logger) *Replayer {
	return &Replayer{buf: buf, broker: broker, interval: interval, timeout: publishTimeout, log: log}
}

// Run replays every interval until ctx ends.
func (r *Replayer) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.ReplayOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("write buffer replay stopped early; retrying next interval", "err", err)
		}
	}
}

// ReplayOnce replays what the buffer holds, oldest first, and removes each
// message only after the broker acknowledged it. It stops at the first
// failure so that nothing overtakes an earlier event. It returns how many
// messages it replayed.
func (r *Replayer) ReplayOnce(ctx context.Context) (int, error) {
	depth, age, err := r.buf.Depth(ctx)
	if err != nil {
		return 0, fmt.Errorf("buffer depth: %w", err)
	}
	if depth == 0 {
		return 0, nil
	}
	r.log.Info("write buffer holds events", "depth", depth, "oldest_age", age.Round(time.Millisecond))
	leaseTTL := 3*r.interval + r.timeout
	ok, err := r.buf.Lease(ctx, leaseTTL)
	if err != nil || !ok {
		return 0, err
	}
	replayed := 0
	for {
		batch, err := r.buf.Oldest(ctx, 100)
		if err != nil {
			return replayed, fmt.Errorf("read buffer: %w", err)
		}
		if len(batch) == 0 {
			r.log.Info("write buffer drained", "replayed", replayed)
			return replayed, nil
		}
		for _, b := range batch {
			pctx, cancel := context.WithTimeout(ctx, r.timeout)
			err := send(pctx, r.broker, b.Message)
			cancel()
			if err != nil {
				return replayed, fmt.Errorf("replay event %s: %w", b.ID, err)
			}
			if err := r.buf.Remove(ctx, b); err != nil {
				// Published but still buffered: it will be published again,
				// which the workers' idempotent writes absorb.
				return replayed, fmt.Errorf("remove replayed event %s: %w", b.ID, err)
			}
			replayed++
		}
		ok, err := r.buf.Lease(ctx, leaseTTL)
		if err != nil {
			return replayed, fmt.Errorf("renew the replay lease: %w", err)
		}
		if !ok {
			return replayed, errors.New("lost the replay lease to another dispatcher")
		}
	}
}
