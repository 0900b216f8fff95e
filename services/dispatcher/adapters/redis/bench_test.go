package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/fraudlist"
	"github.com/pawnshop/auction/services/dispatcher/adapters/redis"
)

// BenchmarkFraudListFlagged measures the fraud screening of every action: an
// in-memory lookup in the list loaded from Redis, for a listed and an
// unlisted client, with lists of several sizes.
func BenchmarkFraudListFlagged(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{2, 10_000, 1_000_000} {
		rdb := newClient(b)
		ids := make([]any, n)
		for i := range n {
			ids[i] = fmt.Sprintf("client-%d@example.com", i)
		}
		for i := 0; i < n; i += 10_000 {
			if err := rdb.SAdd(ctx, fraudlist.KeysFor(clustername.Name{}).Set, ids[i:min(i+10_000, n)]...).Err(); err != nil {
				b.Fatal(err)
			}
		}
		f := redis.NewFraudList(rdb, fraudlist.KeysFor(clustername.Name{}), time.Hour, quiet())
		if err := f.Load(ctx); err != nil {
			b.Fatal(err)
		}
		listed, unlisted := fmt.Sprintf("client-%d@example.com", n/2), "alice@example.com"
		b.Run(fmt.Sprintf("clients=%d/listed", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !f.Flagged(listed) {
					b.Fatal("not flagged")
				}
			}
		})
		b.Run(fmt.Sprintf("clients=%d/unlisted", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if f.Flagged(unlisted) {
					b.Fatal("flagged")
				}
			}
		})
		b.Run(fmt.Sprintf("clients=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if f.Flagged(unlisted) {
						b.Fatal("flagged")
					}
				}
			})
		})
	}
}
