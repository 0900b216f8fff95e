package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/services/dispatcher/app"
	goredis "github.com/redis/go-redis/v9"
)

// MaxRegisteredWorkers bounds how many entries a listing reads: Redis is
// outside the dispatcher's trust, and a flooded index must not exhaust it.
const MaxRegisteredWorkers = 4096

// maxEntryBytes bounds one entry's value (a join time and an address).
const maxEntryBytes = 2048

// Registry is the deployment's list of live workers in the Redis all its
// dispatchers share, so that a worker joined through any dispatcher is
// routed to by every one, and a dispatcher that starts or restarts knows
// them all at once. Each worker is one key whose TTL is the heartbeat window
// (Redis's own clock expires it, so dispatchers' clocks never disagree); a
// set indexes the keys, and a channel tells the other dispatchers that the
// list changed.
//
// Keys, under the deployment's name: "<name>:worker:<id>" holds
// "<joined at, unix ms> <address>"; "<name>:workers" is the index;
// "<name>:workers:changes" is the channel.
type Registry struct {
	rdb     *goredis.Client
	index   string
	prefix  string
	channel string
}

var _ app.Registry = (*Registry)(nil)

// NewRegistry returns the registry of the deployment name in rdb.
func NewRegistry(rdb *goredis.Client, name clustername.Name) *Registry {
	return &Registry{rdb: rdb, index: name.Key("workers"), prefix: name.Key("worker") + ":", channel: name.Key("workers", "changes")}
}

func (r *Registry) key(id string) string { return r.prefix + id }

// Register implements app.Registry. The read and the write run in one
// optimistic transaction (WATCH), so two dispatchers admitting the same id
// at once cannot both win with different addresses.
func (r *Registry) Register(ctx context.Context, id, address string, joinedAt time.Time, ttl time.Duration) (string, error) {
	key := r.key(id)
	holder := ""
	txf := func(tx *goredis.Tx) error {
		holder = ""
		cur, err := tx.Get(ctx, key).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return err
		}
		joined := joinedAt
		if err == nil {
			e, perr := parseEntry(id, cur)
			switch {
			case perr == nil && e.Address != address:
				holder = e.Address
				return nil
			case perr == nil:
				joined = e.JoinedAt // a rejoin keeps its first join time
			}
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, key, formatEntry(joined, address), ttl)
			p.SAdd(ctx, r.index, id)
			p.Publish(ctx, r.channel, "join "+id)
			return nil
		})
		return err
	}
	for attempt := 0; attempt < 5; attempt++ {
		err := r.rdb.Watch(ctx, txf, key)
		if errors.Is(err, goredis.TxFailedErr) {
			continue // another dispatcher wrote the key meanwhile: judge again
		}
		if err != nil {
			return "", fmt.Errorf("register worker %s: %w", id, err)
		}
		return holder, nil
	}
	return "", fmt.Errorf("register worker %s: the entry kept changing under the transaction", id)
}

// Refresh implements app.Registry: it extends the entry's TTL, and re-adds
// the id to the index in case a concurrent listing pruned it.
func (r *Registry) Refresh(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	ok, err := r.rdb.PExpire(ctx, r.key(id), ttl).Result()
	if err != nil {
		return false, fmt.Errorf("refresh worker %s: %w", id, err)
	}
	if !ok {
		return false, nil
	}
	if err := r.rdb.SAdd(ctx, r.index, id).Err(); err != nil {
		return false, fmt.Errorf("refresh worker %s: index: %w", id, err)
	}
	return true, nil
}

// Remove implements app.Registry.
func (r *Registry) Remove(ctx context.Context, id string) error {
	_, err := r.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, r.key(id))
		p.SRem(ctx, r.index, id)
		p.Publish(ctx, r.channel, "leave "+id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove worker %s: %w", id, err)
	}
	return nil
}

// List implements app.Registry. Ids whose key expired are pruned from the
// index; entries that do not parse are skipped (and reported in the error
// only when nothing else could be read).
func (r *Registry) List(ctx context.Context) ([]app.Registration, error) {
	n, err := r.rdb.SCard(ctx, r.index).Result()
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	if n > MaxRegisteredWorkers {
		return nil, fmt.Errorf("list workers: the index %s holds %d ids, more than %d", r.index, n, MaxRegisteredWorkers)
	}
	ids, err := r.rdb.SMembers(ctx, r.index).Result()
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	gets := make([]*goredis.StringCmd, len(ids))
	ttls := make([]*goredis.DurationCmd, len(ids))
	_, err = r.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			gets[i] = p.Get(ctx, r.key(id))
			ttls[i] = p.PTTL(ctx, r.key(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	out := make([]app.Registration, 0, len(ids))
	var gone []any
	for i, id := range ids {
		v, err := gets[i].Result()
		left := ttls[i].Val()
		if errors.Is(err, goredis.Nil) || left == -2 {
			gone = append(gone, id)
			continue
		}
		if err != nil || left <= 0 {
			continue // unreadable, or written without a TTL: it would never expire
		}
		e, err := parseEntry(id, v)
		if err != nil {
			continue
		}
		e.TTLLeft = left
		out = append(out, e)
	}
	if len(gone) > 0 {
		// A worker that refreshes right now re-adds itself (Refresh).
		_ = r.rdb.SRem(ctx, r.index, gone...).Err()
	}
	return out, nil
}

// Watch implements app.Registry: changed runs after each announcement on
// the channel, until ctx ends. The messages' text is not trusted; they only
// prompt a listing.
func (r *Registry) Watch(ctx context.Context, changed func()) error {
	sub := r.rdb.Subscribe(ctx, r.channel)
	defer func() { _ = sub.Close() }()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-ch:
			if !ok {
				return errors.New("watch workers: subscription closed")
			}
			changed()
		}
	}
}

func formatEntry(joinedAt time.Time, address string) string {
	return strconv.FormatInt(joinedAt.UnixMilli(), 10) + " " + address
}

// parseEntry reads an entry written by formatEntry. The address is checked
// again by the membership before it is called.
func parseEntry(id, v string) (app.Registration, error) {
	if len(v) > maxEntryBytes {
		return app.Registration{}, fmt.Errorf("worker %s: entry of %d bytes", id, len(v))
	}
	ms, addr, ok := strings.Cut(v, " ")
	t, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || addr == "" {
		return app.Registration{}, fmt.Errorf("worker %s: malformed entry", id)
	}
	return app.Registration{ID: id, Address: addr, JoinedAt: time.UnixMilli(t)}, nil
}
