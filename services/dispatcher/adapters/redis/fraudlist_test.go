package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/fraudlist"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
)

// TestFraudListMatchesEverySpellingOfAListedClient: a listed client cannot
// slip through by changing the case, adding spaces or invisible characters,
// or using fullwidth letters; the ids in Redis are compared in canonical form
// too, even when written by hand in another spelling.
func TestFraudListMatchesEverySpellingOfAListedClient(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	// "mallory" as the feeder stores it; "Eve@Example.com" as an older feeder
	// or an operator might have put it there.
	if err := rdb.SAdd(ctx, fraudlist.KeysFor(clustername.Name{}).Set, "mallory", "Eve@Example.com").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, fraudlist.KeysFor(clustername.Name{}).Version, "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	f := redis.NewFraudList(rdb, fraudlist.KeysFor(clustername.Name{}), time.Hour, quiet())
	if err := f.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{
		"mallory", "MALLORY", "Mallory", " mallory ", "\tmallory\n", "mal\u200blory", "mal\u2060lory", "\ufeffmallory",
		"mal\u00adlory", "ｍａｌｌｏｒｙ", "ＭＡＬＬＯＲＹ", "eve@example.com", "EVE@EXAMPLE.COM", "eve＠example．com",
	} {
		if !f.Flagged(id) {
			t.Errorf("%q is not flagged", id)
		}
	}
	for _, id := range []string{"alice", "mallory2", "mal-lory", "eve", "eve@example.org", ""} {
		if f.Flagged(id) {
			t.Errorf("%q is flagged", id)
		}
	}
	if n := f.Size(); n != 2 {
		t.Errorf("size %d, want 2", n)
	}
}
