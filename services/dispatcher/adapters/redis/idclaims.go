package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/services/dispatcher/app"
	goredis "github.com/redis/go-redis/v9"
)

// IDClaims is app.IDClaims in Redis: for every client-chosen item id, the
// fingerprint of the add that claimed it, as one field of one of
// ClaimBuckets hashes (ClaimKey), set with HSETNX so that of two dispatchers
// claiming one id at once exactly one wins. Claims never expire: an item id
// is permanent, and a claim that expired would let a second body under the
// same id be accepted and then dropped by the worker (which keeps the first
// item), the silent loss the claim exists to prevent.
//
// Why hashes and not a key per id: claims only grow, one per client-chosen
// id, while everything else the platform keeps in Redis is a handful of
// keys. A fixed number of buckets keeps the keyspace small whatever the
// shop's size: what walks the keyspace (SCAN, KEYS, DBSIZE, a deployment's
// clean-up, and the dev stack's embedded Redis, which visits every key, under
// its lock, each time it moves TTLs on) stays cheap, and each claim costs a
// hash field (id and 64-digit fingerprint) instead of a top-level key with
// the deployment's prefix.
//
// Claims made by earlier versions, one key per id (LegacyClaimKey), are
// still honoured: Claim reads that key too, and a fingerprint found there
// holds the id (and is copied into its bucket).
type IDClaims struct {
	rdb  goredis.UniversalClient
	name clustername.Name
}

var _ app.IDClaims = (*IDClaims)(nil)

// NewIDClaims returns the claims of the deployment name kept in rdb.
func NewIDClaims(rdb goredis.UniversalClient, name clustername.Name) *IDClaims {
	return &IDClaims{rdb: rdb, name: name}
}

// ClaimBuckets is how many hashes hold a deployment's claims. It is part of
// the stored format: an id's bucket must never move, so this never changes.
const ClaimBuckets = 1024

// ClaimKey is the hash holding the claim of item id in the deployment name,
// "<name>:item-ids:<bucket>", the bucket (0 to ClaimBuckets-1) chosen by the
// FNV-1a hash of the id; the field is the id itself.
func ClaimKey(name clustername.Name, id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id)) // never fails
	return name.Key("item-ids", strconv.FormatUint(uint64(h.Sum32()%ClaimBuckets), 10))
}

// LegacyClaimKey is where versions before the buckets kept the claim of item
// id in the deployment name: "<name>:item-id:<id>", a string key per id.
// Claim still reads it, so claims made before an upgrade keep holding.
func LegacyClaimKey(name clustername.Name, id string) string { return name.Key("item-id", id) }

// releaseScript deletes the claim only if the given fingerprint holds it.
var releaseScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

// Claim implements app.IDClaims: HSETNX and HGET of the id's field, and a
// GET of its legacy key, in one MULTI/EXEC, one round trip. The transaction
// makes them atomic, so the HGET answers the holder as of the HSETNX (this
// call's fingerprint when it set the claim). It runs no Lua: on the dev
// stack's embedded Redis a script builds a fresh interpreter per call, some
// 0.3 ms under the lock every command waits for, which capped the dev
// stack's write rate.
//
// A legacy claim wins over the bucket: an id claimed before the upgrade is
// held by that claim's fingerprint, which a second round trip (once per such
// id) copies into the bucket, also over a claim this call just set there.
func (c *IDClaims) Claim(ctx context.Context, id, fingerprint string) (string, bool, error) {
	key := ClaimKey(c.name, id)
	var (
		set    *goredis.BoolCmd
		get    *goredis.StringCmd
		legacy *goredis.StringCmd
	)
	if _, err := c.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		set = p.HSetNX(ctx, key, id, fingerprint)
		get = p.HGet(ctx, key, id)
		legacy = p.Get(ctx, LegacyClaimKey(c.name, id))
		return nil
	}); err != nil && !errors.Is(err, goredis.Nil) { // Nil: no legacy key
		return "", false, fmt.Errorf("redis: claim item id: %w", err)
	}
	if old := legacy.Val(); old != "" {
		if get.Val() != old {
			if err := c.rdb.HSet(ctx, key, id, old).Err(); err != nil {
				return "", false, fmt.Errorf("redis: claim item id: copy the legacy claim into %q: %w", key, err)
			}
		}
		return old, false, nil
	}
	holder := get.Val()
	if holder == "" {
		return "", false, fmt.Errorf("redis: claim item id: the claim %q of %q is empty", id, key)
	}
	return holder, set.Val(), nil
}

// Release implements app.IDClaims. Only a claim Claim made is released, and
// Claim makes claims in the buckets only.
func (c *IDClaims) Release(ctx context.Context, id, fingerprint string) error {
	if err := releaseScript.Run(ctx, c.rdb, []string{ClaimKey(c.name, id)}, id, fingerprint).Err(); err != nil {
		return fmt.Errorf("redis: release item id: %w", err)
	}
	return nil
}
