package redis_test

import (
	"context"
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
	if v, err := rdb.Get(ctx, "auction:item-id:ring-1").Result(); err != nil || v != winner {
		t.Fatalf("key auction:item-id:ring-1 = %q (%v), want %q", v, err, winner)
	}
	if ttl := rdb.TTL(ctx, "auction:item-id:ring-1").Val(); ttl >= 0 {
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
