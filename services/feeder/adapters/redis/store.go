// Package redis is the feeder's Redis adapter: it writes the fraud list in
// force under the names of the fraudlist contract, replacing it atomically,
// and announces every new version.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/pawnshop/auction/internal/fraudlist"
	"github.com/pawnshop/auction/services/feeder/app"
	goredis "github.com/redis/go-redis/v9"
)

const (
	// batchSize is how many ids go in one SADD: large enough to cut round
	// trips, small enough that no single command blocks Redis for long.
	batchSize = 1000
	// batchesPerRoundTrip bounds how many SADDs are pipelined before the
	// replies are read, which bounds the client's buffered memory.
	batchesPerRoundTrip = 100
	// tempTTL is the life of a half-built list: if the feeder dies before
	// the swap, the temporary key goes away by itself.
	tempTTL = 10 * time.Minute
)

// Store is the list in force of one deployment in one Redis database. The
// database is the one the URL names, so a test can use its own database while
// production keeps db 0; the key and channel names are fraudlist's for the
// deployment (fraudlist.KeysFor), so deployments sharing a Redis keep their
// own lists.
type Store struct {
	rdb  *goredis.Client
	keys fraudlist.Keys
}

var _ app.Sink = (*Store)(nil)

// Connect returns a store of the list named by keys over the Redis at url
// (redis://[user:password@]host:port/db). It does not dial: an unreachable
// Redis fails the passes, which are retried, not the start.
func Connect(url string, keys fraudlist.Keys) (*Store, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse the Redis URL: %w", err)
	}
	return &Store{rdb: goredis.NewClient(opts), keys: keys}, nil
}

// Close closes the connections.
func (s *Store) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("close redis client: %w", err)
	}
	return nil
}

// Version returns the version of the list in force, "" when there is none.
func (s *Store) Version(ctx context.Context) (string, error) {
	v, err := s.rdb.Get(ctx, s.keys.Version).Result()
	if errors.Is(err, goredis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get %s: %w", s.keys.Version, err)
	}
	return v, nil
}

// Size returns how many client ids the list in force holds (SCARD of
// s.keys.Set), 0 when there is none.
func (s *Store) Size(ctx context.Context) (int64, error) {
	n, err := s.rdb.SCard(ctx, s.keys.Set).Result()
	if err != nil {
		return 0, fmt.Errorf("scard %s: %w", s.keys.Set, err)
	}
	return n, nil
}

// Replace makes ids the list in force. A reader sees either the old set or
// the new one, never a mix: the new set is built under a temporary key, then
// one MULTI/EXEC renames it over s.keys.Set (or deletes the set, for
// an empty list), sets s.keys.Version and publishes the version on
// s.keys.Updates. The swap is guarded by WATCH on the temporary
// key and a count of its members, because EXEC does not roll back: a RENAME
// that failed inside it would still let the new version be announced.
func (s *Store) Replace(ctx context.Context, ids []string, version string) error {
	if len(ids) == 0 {
		_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Del(ctx, s.keys.Set)
			s.announce(ctx, p, version)
			return nil
		})
		if err != nil {
			return fmt.Errorf("clear the fraud list: %w", err)
		}
		return nil
	}

	tmp, err := s.tempKey()
	if err != nil {
		return err
	}
	want, err := s.fill(ctx, tmp, ids)
	if err == nil {
		err = s.swap(ctx, tmp, want, version)
	}
	if err != nil {
		// Best effort, on a fresh context: the caller's may be what failed.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.rdb.Del(cleanup, tmp).Err()
		return err
	}
	return nil
}

// fill adds ids to key in pipelined batches and returns how many distinct
// ids it holds.
func (s *Store) fill(ctx context.Context, key string, ids []string) (int64, error) {
	distinct := make(map[string]struct{}, len(ids))
	p := s.rdb.Pipeline()
	queued := 0
	flush := func() error {
		if queued == 0 {
			return nil
		}
		queued = 0
		if _, err := p.Exec(ctx); err != nil {
			return fmt.Errorf("build the new fraud list under %s: %w", key, err)
		}
		return nil
	}
	for start := 0; start < len(ids); start += batchSize {
		batch := ids[start:min(start+batchSize, len(ids))]
		members := make([]any, len(batch))
		for i, id := range batch {
			members[i] = id
			distinct[id] = struct{}{}
		}
		p.SAdd(ctx, key, members...)
		if start == 0 {
			p.Expire(ctx, key, tempTTL)
		}
		if queued++; queued == batchesPerRoundTrip {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return int64(len(distinct)), nil
}

// swap renames the complete temporary set over the list in force and
// announces the version, in one transaction.
func (s *Store) swap(ctx context.Context, tmp string, want int64, version string) error {
	err := s.rdb.Watch(ctx, func(tx *goredis.Tx) error {
		n, err := tx.SCard(ctx, tmp).Result()
		if err != nil {
			return fmt.Errorf("count the new fraud list: %w", err)
		}
		if n != want {
			return fmt.Errorf("the new fraud list under %s holds %d ids, want %d (expired or changed while being built)", tmp, n, want)
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Rename(ctx, tmp, s.keys.Set)
			// RENAME carries the temporary key's TTL over: drop it.
			p.Persist(ctx, s.keys.Set)
			s.announce(ctx, p, version)
			return nil
		})
		return err
	}, tmp)
	if err != nil {
		return fmt.Errorf("swap in the new fraud list: %w", err)
	}
	return nil
}

// announce queues the version update and its announcement.
func (s *Store) announce(ctx context.Context, p goredis.Pipeliner, version string) {
	p.Set(ctx, s.keys.Version, version, 0)
	p.Publish(ctx, s.keys.Updates, version)
}

// tempKey names a temporary set unique to this replacement, so that two
// feeders running at once never build into the same key.
func (s *Store) tempKey() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("name the temporary key: %w", err)
	}
	return s.keys.Set + ":next:" + hex.EncodeToString(b), nil
}
