package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
)

// TestIDClaimsFirstClaimWinsAndOnlyItsHolderReleases: of many dispatchers
// claiming one id at once with different bodies, exactly one holds it and
// every one of them is told which; a release by another body leaves it.
func TestIDClaimsFirstClaimWinsAndOnlyItsHolderReleases(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	claims := redis.NewIDClaims(rdb, clustername.Name{})
	fps := []string{"fp-a", "fp-b", "fp-c", "fp-d", "fp-e", "fp-f", "fp-g", "fp-h"}
	holders := make([]string, len(fps))
	made := make([]bool, len(fps))
	var wg sync.WaitGroup
	for i, fp := range fps {
		wg.Go(func() {
			h, m, err := claims.Claim(ctx, "ring-1", fp)
			if err != nil {
				t.Error(err)
			}
			holders[i], made[i] = h, m
		})
	}
	wg.Wait()
	won := 0
	for i, h := range holders {
		if h != holders[0] {
			t.Fatalf("claimers were told different holders: %v", holders)
		}
		if (h == fps[i]) != made[i] {
			t.Fatalf("claimer %s: holder %s, made %v", fps[i], h, made[i])
		}
		if made[i] {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d claimers won, want exactly 1 (holders %v)", won, holders)
	}
	winner := holders[0]
	key := redis.ClaimKey(clustername.Name{}, "ring-1")
	if v, err := rdb.HGet(ctx, key, "ring-1").Result(); err != nil || v != winner {
		t.Fatalf("field ring-1 of %s = %q (%v), want %q", key, v, err, winner)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl >= 0 {
		t.Errorf("claim expires in %v, want never", ttl)
	}
	if h, m, err := claims.Claim(ctx, "ring-1", winner); err != nil || h != winner || m {
		t.Errorf("the holder claiming again: %q %v %v, want %q, not made again", h, m, err, winner)
	}

	other := "fp-z"
	if err := claims.Release(ctx, "ring-1", other); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := claims.Claim(ctx, "ring-1", other); h != winner {
		t.Fatalf("after a release by another body the holder is %q, want %q", h, winner)
	}
	if err := claims.Release(ctx, "ring-1", winner); err != nil {
		t.Fatal(err)
	}
	if h, m, _ := claims.Claim(ctx, "ring-1", other); h != other || !m {
		t.Fatalf("after the holder's release the holder is %q, want %q", h, other)
	}
}

func TestIDClaimsFailWhenRedisIsDown(t *testing.T) {
	rdb := newClient(t)
	claims := redis.NewIDClaims(rdb, clustername.Name{})
	_ = rdb.Close()
	if _, _, err := claims.Claim(context.Background(), "ring-1", "fp"); err == nil {
		t.Fatal("claim with Redis closed: no error")
	}
}

// TestIDClaimsKeepTheKeyspaceSmall: claims of many ids fill at most
// ClaimBuckets keys, each named "<name>:item-ids:<bucket>", and each id's
// bucket is fixed (the stored format: ClaimKey of an id never changes).
func TestIDClaimsKeepTheKeyspaceSmall(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	claims := redis.NewIDClaims(rdb, clustername.Name{})
	const ids = 5000
	for i := range ids {
		if _, made, err := claims.Claim(ctx, fmt.Sprintf("lot-%d", i), "fp"); err != nil || !made {
			t.Fatalf("claim lot-%d: made %v, %v", i, made, err)
		}
	}
	keys := rdb.Keys(ctx, "*").Val()
	if len(keys) > redis.ClaimBuckets || len(keys) < redis.ClaimBuckets/2 {
		t.Fatalf("%d ids claimed in %d keys, want between %d and %d", ids, len(keys), redis.ClaimBuckets/2, redis.ClaimBuckets)
	}
	for _, k := range keys {
		b, ok := strings.CutPrefix(k, "auction:item-ids:")
		if n, err := strconv.Atoi(b); !ok || err != nil || n < 0 || n >= redis.ClaimBuckets {
			t.Fatalf("key %q is not auction:item-ids:<0..%d>", k, redis.ClaimBuckets-1)
		}
	}
	var fields int64
	for _, k := range keys {
		fields += rdb.HLen(ctx, k).Val()
	}
	if fields != ids {
		t.Fatalf("%d claims stored, want %d", fields, ids)
	}
	// Pinned (FNV-1a 32 of the id, mod 1024, computed outside Go): changing
	// the hash or the bucket count would orphan every claim stored so far.
	for id, want := range map[string]string{"ring-1": "auction:item-ids:441", "lot-0": "auction:item-ids:349", "": "auction:item-ids:453"} {
		if got := redis.ClaimKey(clustername.Name{}, id); got != want {
			t.Errorf("ClaimKey(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestIDClaimsHonourLegacyClaims: a claim made by a version before the
// buckets (a string key per id) keeps holding its id: another body is told
// that holder, the same body is a retry (not a new claim), and the holder is
// copied into the bucket.
func TestIDClaimsHonourLegacyClaims(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	name := clustername.Name{}
	claims := redis.NewIDClaims(rdb, name)
	for _, id := range []string{"old-1", "old-2"} {
		if err := rdb.Set(ctx, redis.LegacyClaimKey(name, id), "fp-old", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := redis.LegacyClaimKey(name, "old-1"); got != "auction:item-id:old-1" {
		t.Fatalf("LegacyClaimKey = %q, want the old format auction:item-id:old-1", got)
	}

	if h, made, err := claims.Claim(ctx, "old-1", "fp-new"); err != nil || made || h != "fp-old" {
		t.Fatalf("another body for a legacy claim: %q %v %v, want fp-old held", h, made, err)
	}
	if v := rdb.HGet(ctx, redis.ClaimKey(name, "old-1"), "old-1").Val(); v != "fp-old" {
		t.Fatalf("the bucket holds %q for old-1, want the legacy fp-old copied over the claim just tried", v)
	}
	if h, made, err := claims.Claim(ctx, "old-1", "fp-new"); err != nil || made || h != "fp-old" {
		t.Fatalf("another body again: %q %v %v, want fp-old held", h, made, err)
	}
	if h, made, err := claims.Claim(ctx, "old-2", "fp-old"); err != nil || made || h != "fp-old" {
		t.Fatalf("the legacy claim's own body: %q %v %v, want a retry of fp-old, not a new claim", h, made, err)
	}
	// A release by the body that tried cannot free the legacy claim.
	if err := claims.Release(ctx, "old-1", "fp-new"); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := claims.Claim(ctx, "old-1", "fp-new"); h != "fp-old" {
		t.Fatalf("after a release by another body the holder is %q, want fp-old", h)
	}
}
