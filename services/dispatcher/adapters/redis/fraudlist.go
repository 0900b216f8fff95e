// Package redis holds the dispatcher's Redis adapters: the in-memory copy of
// the fraud list the feeder publishes, and the write buffer.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pawnshop/auction/internal/fraudlist"
	goredis "github.com/redis/go-redis/v9"
)

// FraudList keeps the fraud list in memory so that screening an action costs
// no network round trip. It reloads the set when the feeder announces a new
// version on the updates channel, and on a slow timer as a fallback. While
// Redis is unreachable the last list loaded stays in force.
type FraudList struct {
	rdb      *goredis.Client
	keys     fraudlist.Keys
	log      *slog.Logger
	fallback time.Duration

	current atomic.Pointer[fraudSnapshot]

	mu      sync.Mutex
	lastErr error
}

type fraudSnapshot struct {
	ids      map[string]struct{}
	version  string
	loadedAt time.Time
}

// NewFraudList returns an empty list of the deployment whose Redis names are
// keys; Run loads and follows it.
func NewFraudList(rdb *goredis.Client, keys fraudlist.Keys, fallback time.Duration, log *slog.Logger) *FraudList {
	f := &FraudList{rdb: rdb, keys: keys, log: log, fallback: fallback}
	f.current.Store(&fraudSnapshot{ids: map[string]struct{}{}})
	return f
}

// Flagged implements app.Screen. The id asked about is compared in canonical
// form (fraudlist.Canonical), as the list is, so MALLORY, " mallory ",
// "mal\u200blory" and the fullwidth spelling are all a listed mallory.
func (f *FraudList) Flagged(clientID string) bool {
	_, ok := f.current.Load().ids[fraudlist.Canonical(clientID)]
	return ok
}

// Load reads the set and its version in one transaction, so the pair is
// consistent, and swaps it in.
func (f *FraudList) Load(ctx context.Context) error {
	var members *goredis.StringSliceCmd
	var version *goredis.StringCmd
	_, err := f.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		members = p.SMembers(ctx, f.keys.Set)
		version = p.Get(ctx, f.keys.Version)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		f.setErr(err)
		return fmt.Errorf("load fraud list: %w", err)
	}
	// The feeder stores canonical ids; canonicalizing again costs little and
	// keeps screening right for a set written by an older feeder or by hand.
	ids := make(map[string]struct{}, len(members.Val()))
	for _, id := range members.Val() {
		ids[fraudlist.Canonical(id)] = struct{}{}
	}
	prev := f.current.Swap(&fraudSnapshot{ids: ids, version: version.Val(), loadedAt: time.Now()})
	f.setErr(nil)
	if prev.version != version.Val() {
		f.log.Info("fraud list loaded", "version", version.Val(), "clients", len(ids))
	}
	return nil
}

func (f *FraudList) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastErr = err
}

// Run follows the list until ctx ends: it subscribes to the updates channel,
// reloads on every announcement and every fallback interval, and keeps the
// last list when a reload fails.
func (f *FraudList) Run(ctx context.Context) {
	sub := f.rdb.Subscribe(ctx, f.keys.Updates)
	defer sub.Close()
	updates := sub.Channel(goredis.WithChannelHealthCheckInterval(10 * time.Second))
	t := time.NewTicker(f.fallback)
	defer t.Stop()
	reload := func(why string) {
		if err := f.Load(ctx); err != nil && ctx.Err() == nil {
			age, version := f.Age()
			f.log.Warn("fraud list reload failed; the last list stays in force", "why", why, "err", err, "list_age", age.Round(time.Second), "version", version)
		}
	}
	reload("start")
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-updates:
			if !ok {
				return
			}
			reload("announced")
		case <-t.C:
			reload("fallback timer")
		}
	}
}

// Age returns how old the list in force is and its version; the age is zero
// when no list was ever loaded.
func (f *FraudList) Age() (time.Duration, string) {
	s := f.current.Load()
	if s.loadedAt.IsZero() {
		return 0, ""
	}
	return time.Since(s.loadedAt), s.version
}

// Size is the number of clients on the list in force.
func (f *FraudList) Size() int { return len(f.current.Load().ids) }

// Status describes the list in force for /readyz.
func (f *FraudList) Status() map[string]any {
	s := f.current.Load()
	st := map[string]any{"clients": len(s.ids), "version": s.version}
	if s.loadedAt.IsZero() {
		st["loaded"] = "never"
	} else {
		st["ageSeconds"] = time.Since(s.loadedAt).Seconds()
	}
	f.mu.Lock()
	if f.lastErr != nil {
		st["lastError"] = f.lastErr.Error()
	}
	f.mu.Unlock()
	return st
}
